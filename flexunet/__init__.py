"""flexunet: a slightly flexible UNet toolkit for Pap-smear nucleus segmentation."""

__version__ = "1.1.0"
