"""Evaluate the trained UNet on [eval] (and [test]): python TensorflowUNetEvaluator.py [CONFIG] [--debug]."""

import sys

from flexunet.cli import evaluate_main

if __name__ == "__main__":
    sys.exit(evaluate_main(sys.argv[1:]))
