#!/usr/bin/env bash
# 2.seamless_generator: New database pictures -> Seamless-Smear2005-master (seamless cloning)
cd "$(dirname "$0")" || exit 1
PYTHON=../../../.venv/bin/python; [ -x "$PYTHON" ] || PYTHON=python
exec "$PYTHON" ImageMaskDatasetGenerator.py ./image_mask_generator_seamless.config "$@"
