#!/usr/bin/env bash
# Installs everything (scripts/setup.sh), then lints (ruff), checks the import rules between the
# packages (import-linter: see pyproject.toml and docs/architecture.md) and runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/lint-imports
# Most tests wait on servers, sockets and subprocesses, so they run in parallel workers (a test file
# stays on one worker: its module fixtures are made once); the few that judge timing run alone after.
# Exit status 5 is "no test selected", e.g. a path given with only one kind.
WORKERS=${BGM_TEST_WORKERS:-3}
status=0
.venv/bin/python -m pytest -n "$WORKERS" --dist loadfile -m "not serial" "$@" || status=$?
[ "$status" -eq 5 ] && status=0
serial=0
.venv/bin/python -m pytest -m serial "$@" || serial=$?
[ "$serial" -eq 5 ] && serial=0
exit $(( status || serial ))
