#!/usr/bin/env bash
# Build (or refresh) the project's virtual environment in .venv from pinned constraints.
# Needs only Python >= 3.11 with pip; idempotent, and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# uv resolves and installs the pinned set in seconds; pip is the fallback.
if [ ! -x .venv/bin/uv ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.4" || true
fi
if [ -x .venv/bin/uv ]; then
    .venv/bin/uv pip install --quiet --python .venv/bin/python -c constraints.txt -e ".[test,bench,btyd,postgres,spark]"
else
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,bench,btyd,postgres,spark]"
fi
