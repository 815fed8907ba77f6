#!/usr/bin/env bash
# Install what the tests need into ./.venv, then run the test suite: bash run_tests.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/ensure_venv.sh requirements-dev.txt
exec .venv/bin/python -m pytest -q tests "$@"
