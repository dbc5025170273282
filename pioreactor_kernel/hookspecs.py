"""Every extension point of the kernel, documented like an API.

A plugin is a module (found through the ``pioreactor.plugins`` entry-point group, or a
single ``.py`` file in the data dir's ``plugins/`` folder) that defines functions decorated
with ``pioreactor_kernel.plugins.hookimpl`` named after the hooks below::

    from pioreactor_kernel.plugins import hookimpl

    @hookimpl
    def register_jobs(register):
        register("stirring", "pio_stirring.job:Stirring", help="Stir at a target RPM")

Registration hooks take *import paths* ("module:attribute") rather than objects, so that
loading every plugin (for ``pio --help``) imports no job code; the kernel imports a target
only when it is used. The kernel's own commands are registered through these same hooks
(``pioreactor_kernel.builtin.commands``). The reference in docs/hooks.md is generated from
this module (``python -m pioreactor_kernel.hookdocs``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .cli import PioGroup
    from .job import BackgroundJob

hookspec = pluggy.HookspecMarker("pioreactor")


@hookspec
def register_jobs(register: Callable[..., None]) -> None:
    """Declare jobs and actions that ``pio run <name>`` starts.

    :param register: call ``register(name, target, help="...", kind="job")`` once per job.
        ``target`` is ``"module:Class"`` of a :class:`~pioreactor_kernel.job.BackgroundJob`
        subclass (``kind="job"``: long-running) or ``"module:function"`` of a click command
        (``kind="action"``: runs and exits, e.g. ``add_media``). ``service=True`` marks a
        unit service (the cluster agent, the database writer, the UI) that ``pio kill --all``
        leaves running.

    Runs when plugins load (job processes read the registrations from the start-up index
    instead). The target is imported only when the job is run or its ``--help`` is shown. A name registered twice is an error reported
    against the second plugin.
    """


@hookspec
def register_automations(register: Callable[..., None]) -> None:
    """Declare automations hosted by the ``<kind>_automation`` jobs.

    :param register: call ``register(kind, name, target, help="...")`` with ``kind`` one of
        ``dosing``, ``temperature``, ``led`` (or a kind a plugin introduces) and ``target``
        ``"module:Class"`` of an automation class declaring its parameters as
        :class:`~pioreactor_kernel.settings.Setting` objects.

    The hosting job looks automations up by ``(kind, name)`` when it starts or switches.
    """


@hookspec
def register_commands(cli: PioGroup) -> None:
    """Add commands to the ``pio`` command line.

    :param cli: the root group. Prefer ``cli.add_lazy_command("path words", "module:command",
        help="one line")`` so that ``pio --help`` imports nothing of the plugin; ``path words``
        may name an existing group, e.g. ``"calibrate stirring"``. ``cli.add_command(cmd)``
        (plain click) works too, at the price of importing the command's module.
    """


@hookspec
def config_defaults() -> Mapping[str, Mapping[str, str]] | None:
    """Return default config values: ``{"section": {"key": "value"}}``.

    The lowest config layer; ``config.ini``, ``unit_config.ini`` and the environment override
    it. Keys are lower-case. Every call's result is merged, later plugins overriding earlier.

    Return constant data: the merged result is kept in the start-up index, which job processes
    read instead of loading the plugins, until a plugin's files change (docs/kernel.md).
    """


@hookspec
def register_hardware(register: Callable[..., None]) -> None:
    """Declare hardware backends (``[hardware] backend = <name>`` selects one).

    :param register: call ``register(name, target, help="...")`` with ``target``
        ``"module:factory"``: ``create(*, config, data_dir, unit, hardware_map) -> Backend``
        returning the driver object of :class:`pioreactor_kernel.hardware.protocols.Backend`.

    ``Backend.exclusive_kinds`` lists the output kinds another process cannot drive while their
    owner lives (the watchdog ends a hung owner before switching such an output off); a driver's
    ``close()`` must not change its output. ``[hardware] backend = auto`` picks ``rpi`` on a
    Raspberry Pi and ``sim`` elsewhere.
    """


@hookspec
def register_ui(register: Callable[..., None]) -> None:
    """Contribute UI panels, chart series, forms and pages, declared as data.

    :param register: call ``register(kind, spec)`` with ``kind`` one of ``panel``,
        ``chart``, ``page`` and ``spec`` a JSON-able dict (typed fields, units, ranges; no code
        strings). The UI plugin validates and renders them.
    """


@hookspec
def register_tables(register: Callable[..., None]) -> None:
    """Declare database tables and the topic parsers that fill them on the leader.

    :param register: call ``register(name, target)`` with ``target`` ``"module:function"``
        returning ``(models, parsers[, migrations])``. The leader's writer imports the target
        when it starts.

    - ``models``: peewee models, not bound to a database (the leader binds them to SQLite or
      PostgreSQL); an optional ``units`` dict on a model feeds the export manifest.
    - ``parsers``: ``{topic_filter: parser}``, each parser ``(Model, parse[, {"changes_only":
      bool, "fallback": bool}])`` or an object with ``.model`` and ``.parse``;
      ``parse(topic: names.Topic, payload: bytes)`` returns a row dict, a tuple in column
      order, a list of rows, or None, and raises on garbage (counted and logged by the writer).
    - ``migrations``: functions ``migrate(db, migrator)``; the table set's schema version is
      1 + their number, and pending ones run when the database opens.

    See docs/leader-storage.md for a complete third-party example.
    """


@hookspec
def register_services(register: Callable[..., None]) -> None:
    """Offer functions and classes that other plugins use by name, without importing this plugin.

    :param register: call ``register(name, target, help="...")`` with ``target``
        ``"module:attribute"``. Names are dotted, the offering plugin's noun first
        (``leader.experiments``, ``cluster.inventory``); a name is a contract: keep its
        signature, or register a new name.

    A plugin uses one with :func:`pioreactor_kernel.services.service` (which imports the target
    on first use) and can test for it with ``has_service``: the plugin that offers it may be
    absent, or replaced by another that registers the same name.
    """


@hookspec
def job_started(job: BackgroundJob) -> None:
    """Called in the job's own process once ``job`` has reached ``ready`` for the first time.

    Observers must return quickly; an exception is logged and does not affect the job.
    """


@hookspec
def job_stopped(job: BackgroundJob) -> None:
    """Called in the job's own process after ``job`` is ``disconnected`` and its hardware released."""


HOOK_NAMES: tuple[str, ...] = tuple(
    name for name, value in dict(globals()).items() if callable(value) and hasattr(value, "pioreactor_spec")
)
