"""Segment every image of [infer] images_dir: python TensorflowUNetInferencer.py [CONFIG] [--debug]."""

import sys

from flexunet.cli import infer_main

if __name__ == "__main__":
    sys.exit(infer_main(sys.argv[1:]))
