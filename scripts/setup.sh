#!/usr/bin/env bash
# Set-up shared by scripts/demo and scripts/test: system packages, the virtual environment, our packages.
# Idempotent: a second run installs nothing new. Usage: scripts/setup.sh [--test]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WITH_TEST=0
[[ "${1:-}" == "--test" ]] && WITH_TEST=1

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

apt_packages=()
command -v mosquitto >/dev/null 2>&1 || [[ -x /usr/sbin/mosquitto ]] || apt_packages+=(mosquitto)
command -v npm >/dev/null 2>&1 || apt_packages+=(nodejs npm)   # builds the web UI's front end
if [[ $WITH_TEST -eq 1 ]]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_packages+=(postgresql)
  [[ -x /usr/bin/chromium ]] || apt_packages+=(chromium)          # the UI's browser tests (Playwright drives it)
fi
if [[ ${#apt_packages[@]} -gt 0 ]]; then
  echo "==> installing ${apt_packages[*]} from the distribution's packages"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
  # we start Mosquitto ourselves with a generated config; the distribution's service is not needed
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
fi

# The distribution's Python when it is recent enough: it is what a Raspberry Pi runs (Raspberry Pi
# OS is Debian), and Debian builds it with PGO and LTO, which starts a job ~25 % faster than a
# plain --enable-shared source build such as pyenv's (docs/kernel.md). PYTHON=... chooses another.
py_ok() { "$1" -c 'import sys, venv, sqlite3; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }
if [[ -n "${PYTHON:-}" ]]; then PY="$PYTHON"
elif py_ok /usr/bin/python3; then PY=/usr/bin/python3
else PY=python3
fi
if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating the virtual environment .venv ($("$PY" -V 2>&1), $PY)"
  if ! "$PY" -m venv .venv; then
    rm -rf .venv
    [[ "$PY" == python3 ]] && exit 1
    echo "==> $PY cannot make a virtual environment; using python3 from PATH"
    python3 -m venv .venv
  fi
fi
VPY=.venv/bin/python
digest="$(cat pyproject.toml requirements-test.txt plugins/*/pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)"
stamp=".venv/.installed-$digest-$WITH_TEST"
if [[ ! -f "$stamp" && ! -f ".venv/.installed-$digest-1" ]]; then   # a test install also serves the demo
  echo "==> installing the kernel and every plugin into .venv"
  log=.venv/pip-install.log
  if ! $VPY -m pip install -q --disable-pip-version-check -U pip "setuptools>=77,<81" wheel >"$log" 2>&1; then
    cat "$log" >&2; echo "!! upgrading pip/setuptools failed (log above)" >&2; exit 1
  fi
  # compat editable installs are plain path entries: no import hook taxing every `pio` start
  pkgs=(-e .)
  for p in plugins/*/pyproject.toml; do
    dir="$(dirname "$p")"
    if [[ $WITH_TEST -eq 1 ]] && grep -q '^test = ' "$p"; then pkgs+=(-e "$dir[test]"); else pkgs+=(-e "$dir"); fi
  done
  extra=()
  [[ $WITH_TEST -eq 1 ]] && extra+=(-r requirements-test.txt)
  if ! $VPY -m pip install -q --disable-pip-version-check --no-build-isolation --config-settings editable_mode=compat \
      "${pkgs[@]}" "${extra[@]}" >"$log" 2>&1; then
    cat "$log" >&2; echo "!! installing the Python packages failed (log above)" >&2; exit 1
  fi
  $VPY -c "import pioreactor_kernel" >/dev/null
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# bytecode for our own (editable) sources: pip compiles what it installs, not a source tree, and
# with PYTHONDONTWRITEBYTECODE set (common in containers) every `pio` would compile them again
$VPY -m compileall -q -j 0 pioreactor_kernel plugins/*/pio_* >/dev/null || true

# the web UI's front end: npm packages pinned by its lockfile, built into the package (never committed)
if [[ -f plugins/pio_ui/build.sh ]]; then bash plugins/pio_ui/build.sh; fi
