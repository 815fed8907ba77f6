#!/usr/bin/env bash
# 4.tiled_infer for this project: python ../../TensorflowUNetTiledInferencer.py ${CONFIG:-./train_eval_infer.config}
cd "$(dirname "$0")" || exit 1
PYTHON=../../.venv/bin/python; [ -x "$PYTHON" ] || PYTHON=python
exec "$PYTHON" ../../TensorflowUNetTiledInferencer.py "${CONFIG:-./train_eval_infer.config}" "$@"
