"""Developer sessions. They run in the project's .venv (made by scripts/setup.sh --test), so that a
session costs no downloads: `nox -s tests`, `nox -s lint`, `nox -s typecheck`, `nox -s bench`,
and `nox -s plugin_isolation` (each plugin's tests with only the kernel and that plugin loaded).
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).parent
PY = str(ROOT / ".venv" / "bin" / "python")
nox.options.sessions = ["lint", "typecheck", "tests"]


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    session.run("bash", "scripts/setup.sh", "--test")
    session.run(PY, "-m", "pytest", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    session.run(PY, "-m", "ruff", "check", "pioreactor_kernel", "plugins", "tests", "bench", "scripts", "noxfile.py")


@nox.session(python=False)
def typecheck(session: nox.Session) -> None:
    session.run(PY, "-m", "mypy", "pioreactor_kernel")


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        session.log(f"--- {script.name}")
        session.run(PY, str(script), *session.posargs)


@nox.session(python=False)
def plugin_isolation(session: nox.Session) -> None:
    """Each plugin's suite with only the kernel and that plugin loaded: plugins must not lean on each other."""
    for plugin in sorted((ROOT / "plugins").glob("pio_*/pyproject.toml")):
        name = plugin.parent.name.removeprefix("pio_")
        tests_dir = plugin.parent / "tests"
        if tests_dir.is_dir():
            session.run(PY, "-m", "pytest", "-p", "no:cacheprovider", str(tests_dir),
                        env={"PIO_LOAD_PLUGINS": f"{name},sim"})
