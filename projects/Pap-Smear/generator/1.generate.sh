#!/usr/bin/env bash
# 1.generate: New database pictures -> Smear2005-master
cd "$(dirname "$0")" || exit 1
PYTHON=../../../.venv/bin/python; [ -x "$PYTHON" ] || PYTHON=python
exec "$PYTHON" ImageMaskDatasetGenerator.py ./image_mask_generator.config "$@"
