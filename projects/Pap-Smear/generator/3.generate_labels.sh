#!/usr/bin/env bash
# 3.generate_labels: New database pictures -> Smear2005-labels (nucleus + cytoplasm label masks, all classes)
cd "$(dirname "$0")" || exit 1
PYTHON=../../../.venv/bin/python; [ -x "$PYTHON" ] || PYTHON=python
exec "$PYTHON" ImageMaskDatasetGenerator.py ./image_label_generator.config "$@"
