#!/usr/bin/env bash
# 3.infer for this project: python ../../TensorflowUNetInferencer.py ${CONFIG:-./train_eval_infer.config}
cd "$(dirname "$0")" || exit 1
PYTHON=../../.venv/bin/python; [ -x "$PYTHON" ] || PYTHON=python
exec "$PYTHON" ../../TensorflowUNetInferencer.py "${CONFIG:-./train_eval_infer.config}" "$@"
