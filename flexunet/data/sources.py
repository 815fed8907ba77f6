"""Image/mask folders as PairSources: what a sample looks like, and the folders' pairs checked."""

from dataclasses import dataclass

from flexunet.config.sections import MaskSection, ModelSection
from flexunet.data.checks import warn_about_masks
from flexunet.data.dataset import MaskOptions, PairSource
from flexunet.data.pairs import pair_files


@dataclass(frozen=True)
class Folders:
    """An image folder and its mask folder, each with the setting that names it (for errors)."""

    images: str
    masks: str
    images_what: str
    masks_what: str
    cells: str | None = None
    cells_what: str = "cells_datapath"


@dataclass(frozen=True)
class SampleSpec:
    """Model-sized samples: (height, width), image channels, and how masks become targets."""

    size: tuple[int, int]
    channels: int
    mask: MaskOptions


def mask_options(mask: MaskSection, training: bool = True, num_classes: int = 1, head: str = "classes") -> MaskOptions:
    """[mask] options for training targets; evaluation always scores against mask > threshold.

    `blur` (the seed's mask growth) and `binarize = False` (soft targets) shape what the model
    learns from, never the annotation it is scored on. With num_classes > 1 masks are class labels.
    """
    if not training:
        return MaskOptions(True, mask.threshold, False, tuple(mask.blur_size), num_classes, head)
    return MaskOptions(mask.binarize, mask.threshold, mask.blur, tuple(mask.blur_size), num_classes, head)


def sample_spec(model: ModelSection, mask: MaskSection, training: bool = True) -> SampleSpec:
    return SampleSpec(model.input_size, model.image_channels,
                      mask_options(mask, training, model.num_classes, model.head))


def folder_source(folders: Folders, spec: SampleSpec) -> PairSource:
    """A streaming PairSource of the image/mask pairs in `folders` (warnings about the masks printed)."""
    pairs = pair_files(folders.images, folders.masks, folders.images_what, folders.masks_what, folders.cells,
                       folders.cells_what)
    warn_about_masks(pairs, folders.masks_what, spec.mask.threshold, spec.mask.num_classes)
    return PairSource(pairs, spec.size, spec.channels, spec.mask)
