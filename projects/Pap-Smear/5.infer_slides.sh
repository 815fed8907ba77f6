#!/usr/bin/env bash
# 5.infer_slides for this project: python ../../TensorflowUNetSlideInferencer.py ${CONFIG:-./train_eval_infer.config}
cd "$(dirname "$0")" || exit 1
PYTHON=../../.venv/bin/python; [ -x "$PYTHON" ] || PYTHON=python
exec "$PYTHON" ../../TensorflowUNetSlideInferencer.py "${CONFIG:-./train_eval_infer.config}" "$@"
