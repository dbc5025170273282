#!/usr/bin/env bash
# Build the UI's front end into pio_ui/static (npm ci + esbuild); skipped when up to date.
# Third-party code comes from the npm registry (pinned by package-lock.json) and is never committed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE/frontend"
stamp_file="$HERE/pio_ui/static/.build-stamp"
stamp="$(cat package.json package-lock.json build.mjs index.html $(find src -type f | sort) | sha1sum | cut -c1-16)"
if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" && "${1:-}" != "--force" ]]; then
  echo "==> pio-ui front end is up to date"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "!! npm is missing: install Node.js 20+ (e.g. apt-get install nodejs npm) to build the UI" >&2
  exit 1
fi
echo "==> building the pio-ui front end"
lock_stamp="node_modules/.lock-$(sha1sum package-lock.json | cut -c1-16)"
if [[ ! -f "$lock_stamp" ]]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch "$lock_stamp"
fi
node build.mjs
echo "$stamp" > "$stamp_file"
