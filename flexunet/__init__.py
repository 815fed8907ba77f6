"""flexunet: a slightly flexible UNet toolkit for Pap-smear nucleus segmentation."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "1.0.0"
