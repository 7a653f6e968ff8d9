#!/usr/bin/env bash
# Set up (or refresh) the project's virtualenv in .venv. Idempotent and safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating the virtual environment .venv …"
  "$PY" -m venv .venv
fi
stamp=.venv/.zhitong-installed
# Reinstall only when pyproject.toml changed since the last successful install.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # torch first, pinned: this CPU build is on the machine's disk; unpinned, pip would pull a CUDA build of GBs.
  # (grep drops pip's noise about optional local package mirrors that do not exist on every machine.)
  echo "setup: [1/3] installing torch 2.13.0 (CPU build, from local disk; ~30 s) …"
  .venv/bin/pip install --quiet --disable-pip-version-check "torch==2.13.0" 2>&1 | { grep -v "is ignored" || true; }
  echo "setup: [2/3] installing zhitong and its dependencies (chromadb, sentence-transformers, python-telegram-bot, …; 1–2 min) …"
  .venv/bin/pip install --quiet --disable-pip-version-check -e ".[dev]" 2>&1 | { grep -v "is ignored" || true; }
  echo "setup: [3/3] checking the installation …"
  .venv/bin/python -c "import torch, sentence_transformers, chromadb, telegram" # fail here if an install failed
  touch "$stamp"
  echo "setup: done."
fi
