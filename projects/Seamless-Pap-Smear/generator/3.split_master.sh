#!/usr/bin/env bash
# 3.split_master: Seamless-Smear2005-master/severe_dysplastic -> ../Seamless-Pap-Smear/severe_dysplastic/{train,valid,test}
cd "$(dirname "$0")" || exit 1
PYTHON=../../../.venv/bin/python; [ -x "$PYTHON" ] || PYTHON=python
exec "$PYTHON" split_master.py --input ./Seamless-Smear2005-master/severe_dysplastic --output ../Seamless-Pap-Smear/severe_dysplastic "$@"
