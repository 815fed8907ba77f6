"""Label masks of several classes: class names, the grey coding written to PNG, and strict reading.

A label mask holds one class per pixel. It is read in either coding: the class index itself
(0, 1, 2, ...) or the grey level round(255 k / (C - 1)) the toolkit writes, so that the PNG is
viewable: for C = 3 classes 0 background, 128 cytoplasm, 255 nucleus. The nucleus is always the
last class, so a binary config (mask > 128) reads a 3-class label mask as nucleus masks.
"""

import os
from pathlib import Path

import numpy as np

from flexunet.data.io import GEOJSON_SUFFIXES, read_grey
from flexunet.errors import DataError

CLASS_NAMES = {2: ("background", "nucleus"), 3: ("background", "cytoplasm", "nucleus")}


def class_names(num_classes: int) -> tuple[str, ...]:
    """The names of the classes: background, [cytoplasm,] nucleus; class_<k> beyond three classes."""
    return CLASS_NAMES.get(num_classes, tuple(f"class_{k}" for k in range(num_classes)))


def grey_levels(num_classes: int) -> np.ndarray:
    """The grey level of each class in a written label PNG: round(255 k / (C - 1))."""
    return np.round(np.arange(num_classes) * 255.0 / (num_classes - 1)).astype(np.uint8)


def to_grey(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """uint8 grey label PNG content of class indices."""
    return grey_levels(num_classes)[labels]


def to_indices(values: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    """Class indices (uint8) of a mask in index or grey coding; DataError naming `where` for a value that
    is no class."""
    found = np.unique(values)
    if found.max(initial=0) < num_classes:
        return values.astype(np.uint8)
    levels = grey_levels(num_classes)
    lookup = np.full(256, 255, np.uint8)
    lookup[levels] = np.arange(num_classes, dtype=np.uint8)
    bad = [int(v) for v in found if lookup[v] == 255]
    if bad:
        raise DataError(f"{where}: value {bad[0]} is no class of a {num_classes}-class label mask (expected the "
                        f"indices 0..{num_classes - 1} or the grey levels {', '.join(map(str, levels))}; label masks "
                        "must be lossless, e.g. PNG)")
    return lookup[values]


def read_labels(path: str | os.PathLike, num_classes: int, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Class indices (H, W) uint8 of a label mask file, or of a GeoJSON of cells on an image of `shape`
    (3 classes: cytoplasm inside any cell, nucleus inside any nucleus; 2 classes: the nuclei)."""
    if Path(path).suffix.lower() in GEOJSON_SUFFIXES:
        from flexunet.data.geojson import geojson_labels

        labels = geojson_labels(path, shape)
        if num_classes == 3:
            return labels
        if num_classes == 2:
            return (labels == 2).astype(np.uint8)
        raise DataError(f"label mask {Path(path)}: a GeoJSON of cells holds 2 or 3 classes (background, "
                        f"[cytoplasm,] nucleus), not the {num_classes} of [model] num_classes")
    return to_indices(read_grey(path), num_classes, f"label mask {Path(path)}")
