"""`pio version` and `pio plugins list|install|uninstall`."""

from __future__ import annotations

import subprocess
import sys

import click

from pioreactor_kernel import __version__
from pioreactor_kernel.plugins import plugin_manager


@click.command()
@click.option("-v", "--verbose", is_flag=True, help="Also list every plugin's version")
def version(verbose: bool) -> None:
    """Print the kernel's version (and, with -v, the plugins')."""
    click.echo(f"pioreactor-kernel {__version__}")
    if verbose:
        click.echo(f"Python {sys.version.split()[0]}")
        for info in plugin_manager().plugins.values():
            click.echo(f"{info.dist or info.name} {info.version or '-'} ({info.status})")


@click.group()
def plugins() -> None:
    """List, install or uninstall plugins (pip underneath)."""


@plugins.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
def list_plugins(as_json: bool) -> None:
    """Every plugin found: name, version, hooks, status (and the error of a failed one)."""
    infos = list(plugin_manager().plugins.values())
    if as_json:
        import json
        click.echo(json.dumps([i.to_dict() for i in infos]))
        return
    for info in infos:
        status = {"loaded": "loaded", "disabled": "disabled", "failed": "FAILED"}[info.status]
        click.echo(f"{info.name:<20} {info.dist or '(file)':<22} {info.version or '-':<10} {status:<9}"
                   f"{info.import_ms:6.1f} ms  {', '.join(info.hooks)}")
        if info.error:
            click.echo(f"{'':<20} error: {info.error}")
        if info.source != "entry point":
            click.echo(f"{'':<20} from {info.source}")


@plugins.command()
@click.argument("packages", nargs=-1, required=True)
@click.option("--upgrade", "-U", is_flag=True)
def install(packages: tuple[str, ...], upgrade: bool) -> None:
    """Install plugin packages with pip (names, paths or URLs)."""
    _pip("install", *(["--upgrade"] if upgrade else []), *packages)


@plugins.command()
@click.argument("packages", nargs=-1, required=True)
def uninstall(packages: tuple[str, ...]) -> None:
    """Uninstall plugin packages with pip."""
    _pip("uninstall", "--yes", *packages)


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", *args]
    click.echo("$ " + " ".join(command), err=True)
    result = subprocess.run(command, check=False)
    if result.returncode:
        raise click.ClickException(f"pip exited with status {result.returncode}")
