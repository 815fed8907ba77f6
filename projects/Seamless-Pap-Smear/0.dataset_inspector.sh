#!/usr/bin/env bash
# 0.dataset_inspector for this project: python ../../ImageMaskDataset.py ${CONFIG:-./train_eval_infer.config}
cd "$(dirname "$0")" || exit 1
PYTHON=../../.venv/bin/python; [ -x "$PYTHON" ] || PYTHON=python
exec "$PYTHON" ../../ImageMaskDataset.py "${CONFIG:-./train_eval_infer.config}" "$@"
