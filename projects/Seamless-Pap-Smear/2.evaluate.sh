#!/usr/bin/env bash
# 2.evaluate for this project: python ../../TensorflowUNetEvaluator.py ${CONFIG:-./train_eval_infer.config}
cd "$(dirname "$0")" || exit 1
PYTHON=../../.venv/bin/python; [ -x "$PYTHON" ] || PYTHON=python
exec "$PYTHON" ../../TensorflowUNetEvaluator.py "${CONFIG:-./train_eval_infer.config}" "$@"
