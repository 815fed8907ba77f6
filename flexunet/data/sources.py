"""Data sources for the folders a config names: model size, mask options, paired images."""

from flexunet.config import Config
from flexunet.data.checks import warn_about_masks
from flexunet.data.dataset import MaskOptions, PairSource
from flexunet.data.pairs import pair_files


def mask_options(config: Config, training: bool = True) -> MaskOptions:
    """[mask] options for training targets; evaluation always scores against mask > threshold.

    `blur` (the seed's mask growth) and `binarize = False` (soft targets) shape what the model
    learns from, never the annotation it is scored on.
    """
    m = config.mask
    if not training:
        return MaskOptions(True, m.threshold, False, tuple(m.blur_size))
    return MaskOptions(m.binarize, m.threshold, m.blur, tuple(m.blur_size))


def model_size(config: Config) -> tuple[int, int]:
    return (config.model.image_height, config.model.image_width)


def dataset_source(config: Config, section: str, purpose: str, training: bool = True) -> PairSource:
    """A PairSource for the image/mask folders of [section]."""
    images = config.require(section, "image_datapath", purpose)
    masks = config.require(section, "mask_datapath", purpose)
    pairs = pair_files(images, masks, config.where(section, "image_datapath"),
                       config.where(section, "mask_datapath"))
    warn_about_masks(pairs, config.where(section, "mask_datapath"))
    return PairSource(pairs, model_size(config), config.model.image_channels,
                      mask_options(config, training))
