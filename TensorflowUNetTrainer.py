"""Train the UNet of a train_eval_infer.config: python TensorflowUNetTrainer.py [CONFIG] [--debug]."""

import sys

from flexunet.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main(sys.argv[1:]))
