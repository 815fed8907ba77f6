"""Inspect the image/mask folders of a config: python ImageMaskDataset.py [CONFIG] [--debug]."""

import sys

from flexunet.cli import dataset_main

if __name__ == "__main__":
    sys.exit(dataset_main(sys.argv[1:]))
