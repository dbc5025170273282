"""The ``pio`` command line: a click group whose commands come from plugins, imported lazily.

``pio --help`` loads every plugin's small registration module but imports no command or job
code: lazy commands carry their one-line help, and are imported only when invoked.
"""

from __future__ import annotations

import contextlib
import io
import sys
from typing import Any

import click

from .plugins import Registration, import_target, plugin_manager


class LazyCommand:
    __slots__ = ("target", "help")

    def __init__(self, target: str, help: str):  # noqa: A002
        self.target, self.help = target, help


class PioGroup(click.Group):
    """A group that holds lazy commands (``"module:attr"`` + help) beside ordinary ones."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, LazyCommand] = {}

    def add_lazy_command(self, path: str, target: str, help: str = "", *, replace: bool = False) -> None:  # noqa: A002
        """Register ``target`` (``"module:click_command"``) as ``pio <path>``; path words name sub-groups.

        ``replace=True`` lets a plugin supersede a command it extends (e.g. the leader's
        ``pio logs``, which adds database queries to the kernel's log-file view).
        """
        *groups, name = path.split()
        group: PioGroup = self
        for word in groups:
            sub = group.commands.get(word)
            if sub is None:
                sub = PioGroup(name=word, help=f"{word} commands")
                group.add_command(sub)
            if not isinstance(sub, PioGroup):
                raise click.UsageError(f"cannot add {path!r}: {word!r} is not a group")
            group = sub
        if (name in group.lazy or name in group.commands) and not replace:
            raise ValueError(f"the command `pio {path}` is already registered")
        group.commands.pop(name, None)
        group.lazy[name] = LazyCommand(target, help)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        lazy = self.lazy.get(name)
        if lazy is None:
            return None
        command = import_target(lazy.target)
        if not isinstance(command, click.Command):
            raise click.ClickException(f"{lazy.target} is not a click command")
        command.name = name
        self.commands[name] = command
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if self.get_command(ctx, name) is None and not name.startswith("-"):
            known = ", ".join(self.list_commands(ctx)) or "none"
            where = ctx.command_path
            raise click.UsageError(f"no command {name!r} in `{where}`. Commands: {known}", ctx)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy and name not in self.commands:
                rows.append((name, self.lazy[name].help))
            else:
                cmd = self.commands[name]
                if not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(limit=formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class RunGroup(click.Group):
    """``pio run <job>``: one subcommand per registered job or action, built on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(plugin_manager().jobs)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        reg = plugin_manager().jobs.get(name)
        if reg is None:
            return None
        if reg.extra.get("kind", "job") == "action":
            command = reg.load()
            command.name = name
            return command
        return job_command(reg)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if name not in plugin_manager().jobs and not name.startswith("-"):
            known = ", ".join(self.list_commands(ctx)) or "none (install a job plugin, e.g. `pio plugins install pio-stirring`)"
            raise click.UsageError(f"no job {name!r}. Jobs: {known}", ctx)
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, reg.help) for name, reg in sorted(plugin_manager().jobs.items())]
        if rows:
            with formatter.section("Jobs"):
                formatter.write_dl(rows)


def job_command(reg: Registration) -> click.Command:
    """A click command for a BackgroundJob class: one option per CLI setting it declares."""
    from . import launch

    job_class = reg.load()
    settings = launch.cli_settings(job_class)
    params: list[click.Parameter] = []
    for setting in settings:
        params.append(click.Option(
            [f"--{setting.name.replace('_', '-')}", setting.name],
            type=_click_type(setting),
            default=setting.default,
            show_default=setting.default is not None,
            help=setting.help_text(),
        ))

    def run(**options: Any) -> None:
        kwargs = {k: v for k, v in options.items() if v is not None}
        for setting in settings:
            if setting.name in kwargs:
                try:
                    kwargs[setting.name] = setting.parse(kwargs[setting.name])
                except ValueError as e:
                    raise click.BadParameter(str(e)) from None
        try:
            launch.run(reg.name, job_class, kwargs)
        except launch.LaunchError as e:
            raise click.ClickException(str(e)) from None

    return click.Command(reg.name, params=params, callback=run, help=(job_class.__doc__ or reg.help).strip())


def _click_type(setting: Any) -> Any:
    if setting.choices:
        return click.Choice(list(setting.choices))
    return {"float": float, "integer": int, "boolean": click.BOOL}.get(setting.datatype, str)


def build_cli() -> PioGroup:
    @click.group(cls=PioGroup, context_settings={"help_option_names": ["-h", "--help"]})
    def pio() -> None:
        """Control a bioreactor unit (and, on the leader, the cluster)."""

    plugin_manager().add_commands(pio)
    return pio


def main(argv: list[str] | None = None, fast_key: str | None = None) -> Any:
    from .config import ConfigError

    try:
        cli = build_cli()
        if fast_key is not None:
            _store_fast_outputs(cli)
        return cli.main(args=argv, prog_name="pio")
    except ConfigError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(2)


def _store_fast_outputs(cli: PioGroup) -> None:
    """Render ``pio --help`` and ``pio version`` once and keep them for entry.py's fast path."""
    from . import entry

    outputs: dict[str, str] = {}
    for key, args in (("help", ["--help"]), ("version", ["version"])):
        with contextlib.redirect_stdout(io.StringIO()) as buffer, contextlib.suppress(click.exceptions.Exit, SystemExit):
            cli.main(args=args, prog_name="pio", standalone_mode=False)
        outputs[key] = buffer.getvalue()
    entry.save_index({**plugin_manager().index_entries(), "outputs": outputs})
