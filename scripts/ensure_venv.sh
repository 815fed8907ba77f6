#!/usr/bin/env bash
# Make ./.venv hold the packages of the given requirements file; reinstall only when it changed.
set -euo pipefail
requirements="${1:-requirements.txt}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "error: Python 3.11 or newer is needed ($python is $("$python" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $("$python" --version 2>&1)"
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(basename "$requirements")"
digest="$(cat "$requirements" requirements.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  echo "Installing $requirements into .venv (a few minutes the first time)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$requirements"
  echo "$digest" > "$stamp"
fi
