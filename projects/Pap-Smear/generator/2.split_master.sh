#!/usr/bin/env bash
# 2.split_master: Smear2005-master/severe_dysplastic -> ../Pap-Smear/severe_dysplastic/{train,valid,test}
cd "$(dirname "$0")" || exit 1
PYTHON=../../../.venv/bin/python; [ -x "$PYTHON" ] || PYTHON=python
exec "$PYTHON" split_master.py --input ./Smear2005-master/severe_dysplastic --output ../Pap-Smear/severe_dysplastic "$@"
