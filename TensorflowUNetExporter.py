"""Export the trained UNet of a config as .keras, SavedModel and ONNX: python TensorflowUNetExporter.py [CONFIG]."""

import sys

from flexunet.cli import export_main

if __name__ == "__main__":
    sys.exit(export_main(sys.argv[1:]))
