"""``pio ui password``: set the web UI's password (or generate one), kept in the data dir."""

from __future__ import annotations

import click


@click.command()
@click.option("--generate", is_flag=True, help="Make a new random password and print it")
def password(generate: bool) -> None:
    """Set the web UI's login password (restart the ui job to apply it)."""
    from pioreactor_kernel.paths import data_dir

    from .auth import _write_private, resolve_password
    from .names import PASSWORD_FILE

    path = data_dir() / PASSWORD_FILE
    if generate:
        path.unlink(missing_ok=True)
        new, _ = resolve_password(None, data_dir())
        click.echo(f"new web UI password: {new}")
        return
    new = click.prompt("new web UI password", hide_input=True, confirmation_prompt=True)
    if len(new) < 8:
        raise click.ClickException("use at least 8 characters")
    _write_private(path, new + "\n")
    click.echo(f"saved in {path} (restart the ui job: `pio kill ui && pio run ui`)")
