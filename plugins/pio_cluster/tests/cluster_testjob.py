"""A single-file plugin the tests copy into each simulated unit's data dir: a light job `probe`.

The cluster tests must not lean on other plugins (nox plugin_isolation loads only cluster and
sim), so they run this job; the stirring test runs the real `stirring` when it is installed.
"""

from __future__ import annotations

from typing import Any

import click
from pioreactor_kernel.job import BackgroundJob
from pioreactor_kernel.plugins import hookimpl
from pioreactor_kernel.settings import Setting


class Probe(BackgroundJob):
    """Holds a level; nothing else."""

    job_name = "probe"
    published_settings = (
        Setting("level", "float", unit="%", settable=True, minimum=0, maximum=10, default=1.0,
                description="A level between 0 and 10"),
        Setting("label", "string", settable=True, default="x", description="Any text"),
    )

    def __init__(self, level: float = 1.0, label: str = "x", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.level = level
        self.label = label


@click.command()
@click.option("--count", type=int, required=True, help="How many marks to write")
@click.option("--loud", is_flag=True, help="Capital marks")
def probe_action(count: int, loud: bool) -> None:
    """Write COUNT marks into <data dir>/probe_action.txt, and exit."""
    from pioreactor_kernel.paths import data_dir

    (data_dir() / "probe_action.txt").write_text(("X" if loud else "x") * count)
    click.echo(f"wrote {count} marks")


@hookimpl
def register_jobs(register: Any) -> None:
    register("probe", "pio_local_plugin_cluster_testjob:Probe", help="A test job holding a level")
    register("probe_action", "pio_local_plugin_cluster_testjob:probe_action", help="A test action", kind="action")
