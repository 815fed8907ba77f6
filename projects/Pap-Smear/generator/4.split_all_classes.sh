#!/usr/bin/env bash
# 4.split_all_classes: Smear2005-labels/<7 classes> -> ../Pap-Smear/all_classes/{train,valid,test} (+ classes.csv)
cd "$(dirname "$0")" || exit 1
PYTHON=../../../.venv/bin/python; [ -x "$PYTHON" ] || PYTHON=python
exec "$PYTHON" split_master.py --input ./Smear2005-labels --output ../Pap-Smear/all_classes "$@"
