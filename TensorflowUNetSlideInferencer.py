"""Segment every image or slide of [tiledinfer] images_dir on many workers ([cluster], Dask):
python TensorflowUNetSlideInferencer.py [CONFIG] [--debug]."""

import sys

from flexunet.cli import infer_many_main

if __name__ == "__main__":
    sys.exit(infer_many_main(sys.argv[1:]))
