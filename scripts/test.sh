#!/usr/bin/env bash
# Set up the virtualenv (if needed) and run the whole test suite. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The dashboard's browser tests drive Debian's Chromium through Playwright (never `playwright install`).
if ! command -v chromium >/dev/null 2>&1; then
  (apt-get update && apt-get install -y chromium fonts-noto-cjk) || echo "warning: could not install chromium" >&2
fi
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
