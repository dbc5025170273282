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
if [[ $WITH_TEST -eq 1 ]]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_packages+=(postgresql)
fi
if [[ ${#apt_packages[@]} -gt 0 ]]; then
  echo "==> installing ${apt_packages[*]} from the distribution's packages"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
  # we start Mosquitto ourselves with a generated config; the distribution's service is not needed
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
fi

PY="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating the virtual environment .venv"
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
stamp=".venv/.installed-$(cat pyproject.toml plugins/*/pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)-$WITH_TEST"
if [[ ! -f "$stamp" ]]; then
  echo "==> installing the kernel and every plugin into .venv"
  $VPY -m pip install -q --disable-pip-version-check -U pip "setuptools>=77,<81" wheel 2>&1 | grep -v "^WARNING: Location" || true
  # compat editable installs are plain path entries: no import hook taxing every `pio` start
  pkgs=(-e .)
  for p in plugins/*/pyproject.toml; do pkgs+=(-e "$(dirname "$p")"); done
  extra=()
  [[ $WITH_TEST -eq 1 ]] && extra+=(-r requirements-test.txt)
  $VPY -m pip install -q --disable-pip-version-check --no-build-isolation --config-settings editable_mode=compat \
    "${pkgs[@]}" "${extra[@]}" 2>&1 | grep -v -e "^WARNING: Location" -e "BuildBackendWarning" -e "^ *!!" || true
  $VPY -c "import pioreactor_kernel" >/dev/null
  rm -f .venv/.installed-*
  touch "$stamp"
fi
