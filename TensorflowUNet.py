"""The seed's model class over the flexunet package; run alone, it writes the model summary (as the seed)."""

import sys

from flexunet.cli import inspect_main
from flexunet.cli.unet_class import TensorflowUNet

__all__ = ["TensorflowUNet"]

if __name__ == "__main__":
    sys.exit(inspect_main(sys.argv[1:]))
