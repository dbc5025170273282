"""Registration only: importing this module must not import the job code."""

from pioreactor_kernel.plugins import hookimpl

STARTED: list[str] = []


@hookimpl
def register_jobs(register):
    register("counter", "pio_testplugin.job:Counter", help="Counts up every interval")
    register("say_hello", "pio_testplugin.job:say_hello", help="An action that prints and exits", kind="action")


@hookimpl
def register_commands(cli):
    cli.add_lazy_command("hello", "pio_testplugin.job:hello_command", help="Say hello from the test plugin")
    cli.add_lazy_command("calibrate widget", "pio_testplugin.job:hello_command", help="Calibrate the test widget")


@hookimpl
def config_defaults():
    return {"counter": {"interval_s": "0.5"}}


@hookimpl
def job_started(job):
    STARTED.append(job.job_name)
