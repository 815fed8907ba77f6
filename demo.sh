#!/usr/bin/env bash
# The whole pipeline on synthetic Herlev-format data, no download: bash demo.sh [--cells N] [--epochs N]
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/ensure_venv.sh requirements.txt
exec .venv/bin/python -m flexunet.cli.demo "$@"
