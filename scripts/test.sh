#!/usr/bin/env bash
# Installs everything (scripts/setup.sh), then lints and runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
