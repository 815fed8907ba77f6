#!/usr/bin/env bash
# model_inspect for this project: python ../../TensorflowUNetModelInspector.py ${CONFIG:-./train_eval_infer.config}
cd "$(dirname "$0")" || exit 1
PYTHON=../../.venv/bin/python; [ -x "$PYTHON" ] || PYTHON=python
exec "$PYTHON" ../../TensorflowUNetModelInspector.py "${CONFIG:-./train_eval_infer.config}" "$@"
