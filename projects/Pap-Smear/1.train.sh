#!/usr/bin/env bash
# 1.train for this project: python ../../TensorflowUNetTrainer.py ${CONFIG:-./train_eval_infer.config}
cd "$(dirname "$0")" || exit 1
PYTHON=../../.venv/bin/python; [ -x "$PYTHON" ] || PYTHON=python
exec "$PYTHON" ../../TensorflowUNetTrainer.py "${CONFIG:-./train_eval_infer.config}" "$@"
