"""The ``pio`` console script: a fast path for what needs no code, then the click CLI.

``pio --help`` and ``pio version`` print text that only changes when the installed plugins,
the data dir's plugin files, the plugin selection or the kernel change. The first run renders
it through the real click CLI and stores it with a fingerprint of those inputs (mtimes of the
``sys.path`` directories, of each plugin's module file, of the config files; the plugin
selection variables; the terminal width). Later runs whose fingerprint matches print it
without importing click, pluggy or importlib.metadata. Anything else goes to ``cli.main``.

The same index also keeps the discovered entry points, so every ``pio`` command skips
scanning every installed distribution's metadata, and the registered jobs, so that
``pio run <job> --option value ...`` starts the job without importing click (launch.py).
"""

from __future__ import annotations

import gc
import marshal
import os
import sys

INDEX_VERSION = 4
FAST_ARGS = {("--help",): "help", ("-h",): "help", (): "help", ("version",): "version"}
SELECTION_ENV = ("PIO_LOAD_PLUGINS", "PIO_DISABLE_PLUGINS", "PIO__plugins__disabled", "PIO__PLUGINS__DISABLED")


def data_dir() -> str:
    return os.path.expanduser(os.environ.get("PIO_DATA_DIR") or "~/.pioreactor")


def index_path() -> str:
    return os.path.join(data_dir(), "cache", f"cli-index{sys.prefix.replace(os.sep, '_')}.marshal")


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def base_fingerprint() -> tuple:
    """Everything that decides which plugins are found, cheap to compute (stat calls only)."""
    d = data_dir()
    try:
        width = os.get_terminal_size().columns if sys.stdout.isatty() else 0
    except OSError:
        width = 0
    return (
        INDEX_VERSION,
        sys.version_info[:2],
        # sys.path[0] is the script's folder or the working directory (``python -m``): it differs
        # between ``pio`` and the kernel's own ``-m`` subprocesses and holds no installed plugin
        tuple((p, _mtime(p)) for p in sys.path[1:] if p),
        _mtime(os.path.join(d, "plugins")),
        _mtime(os.path.join(d, "config.ini")),
        _mtime(os.path.join(d, "unit_config.ini")),
        tuple(os.environ.get(k) for k in SELECTION_ENV),
        os.environ.get("COLUMNS"),
        width,
    )


_checked: dict | None = None  # the index this process last loaded (and validated) or saved


def load_index(recheck: bool = True) -> dict | None:
    """The stored index if it is still valid, else None.

    ``recheck=False`` answers with the index this process already validated, if any (a job's
    start reads it twice: for its class, then for the plugins' registrations).
    """
    global _checked
    if not recheck and _checked is not None:
        return _checked
    try:
        with open(index_path(), "rb") as f:
            index = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(index, dict) or index.get("fingerprint") != base_fingerprint():
        return None
    if any(_mtime(path) != mtime for path, mtime in index.get("files", ())):
        return None
    _checked = index
    return index


def forget_index() -> None:
    """Make the next ``load_index(recheck=False)`` read and check the file again."""
    global _checked
    _checked = None


def save_index(index: dict) -> None:
    global _checked
    _checked = None
    path = index_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "wb") as f:
            marshal.dump(index, f)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only data dir only costs speed


def main() -> None:
    # A job's start-up is mostly imports, which make many objects and few cycles: the cyclic
    # collector would run ~30 times for nothing (~10 % of the imports). launch.run turns it back
    # on once the job runs, after gc.freeze(); the click CLI gets it back at once.
    gc.disable()
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "run" and not args[1].startswith("-"):
        index = load_index()
        job = index and index.get("jobs", {}).get(args[1])
        if job and job[1] == "job":
            from .launch import fast_run

            fast_run(job[0], args[1], args[2:])  # returns only if click must read the command line
    key = FAST_ARGS.get(tuple(args))
    if key is not None:
        index = load_index()
        text = index and index.get("outputs", {}).get(key)
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
    gc.enable()
    from .cli import main as cli_main

    cli_main(fast_key=key)
