#!/usr/bin/env bash
# Set up the virtualenv (if needed) and run the whole test suite. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The dashboard's browser tests drive Debian's Chromium through Playwright (never `playwright install`).
if ! command -v chromium >/dev/null 2>&1; then
  (apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y chromium fonts-noto-cjk >/dev/null) \
    || echo "warning: could not install chromium; the browser tests will fail" >&2
fi
# The scale-out tests run Debian's nginx in front of the webhook workers.
bash scripts/setup-cluster.sh
# The layer contracts in pyproject.toml ([tool.importlinter]): no domain package imports an application,
# no cycles. A broken contract fails the run before any test starts.
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
