"""Write the model summary and graph: python TensorflowUNetModelInspector.py [CONFIG] [--debug]."""

import sys

from flexunet.cli import inspect_main

if __name__ == "__main__":
    sys.exit(inspect_main(sys.argv[1:]))
