"""The test plugin's job and commands (imported only when used)."""

import click

from pioreactor_kernel.job import BackgroundJob
from pioreactor_kernel.settings import Setting
from pioreactor_kernel.timing import RepeatedTimer


class Counter(BackgroundJob):
    """Counts up every `interval_s` seconds and publishes the count."""

    job_name = "counter"
    published_settings = (
        Setting("count", "integer", description="How far it has counted"),
        Setting("step", "integer", settable=True, minimum=1, maximum=100, default=1, description="Increment"),
        Setting("target_rpm", "float", unit="rpm", settable=True, minimum=0, maximum=3000, default=500.0,
                description="A number with a unit and a range"),
        Setting("mode", "string", settable=True, choices=("fast", "slow"), default="fast", description="Speed"),
    )

    def __init__(self, step: int = 1, target_rpm: float = 500.0, mode: str = "fast", **kwargs):
        super().__init__(**kwargs)
        self.count = 0
        self.step = step
        self.target_rpm = target_rpm
        self.mode = mode
        self.timer = RepeatedTimer(0.2, self._tick).start()

    def _tick(self) -> None:
        if self.state == "ready":
            self.count += self.step

    def on_disconnected(self) -> None:
        self.timer.cancel()


@click.command()
@click.option("--name", default="world")
def say_hello(name: str) -> None:
    """Print a greeting."""
    click.echo(f"hello {name}")


@click.command()
def hello_command() -> None:
    """Say hello."""
    click.echo("hello from the test plugin")
