"""Segment large images tile by tile ([tiledinfer]): python TensorflowUNetTiledInferencer.py [CONFIG] [--debug]."""

import sys

from flexunet.cli import tiled_infer_main

if __name__ == "__main__":
    sys.exit(tiled_infer_main(sys.argv[1:]))
