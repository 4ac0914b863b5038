#!/usr/bin/env bash
# Install everything (scripts/setup.sh), then lint with ruff, type-check with mypy and run the test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not lab" -x`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '%s test: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*"; }

bash scripts/setup.sh

log "ruff check --no-cache ."
.venv/bin/ruff check --no-cache .

log "mypy (xcatha_verify, checks)"
.venv/bin/mypy

log "pytest $*"
status=0
.venv/bin/python -m pytest "$@" || status=$?
case $status in
    0) log "tests passed" ;;
    5) log "FAILED: pytest collected no tests (exit 5)"; exit 5 ;;
    *) log "FAILED: pytest exit status $status"; exit "$status" ;;
esac
