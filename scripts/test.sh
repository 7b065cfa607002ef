#!/usr/bin/env bash
# Installs everything (scripts/setup.sh), then lints (ruff), checks the import rules between the
# packages (import-linter: see pyproject.toml and docs/architecture.md) and runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
