"""The cells of a sample and the cells head's training targets.

A sample's cells come from its instance annotation (QuPath GeoJSON, or a 16-bit label image beside the
label mask), or, without one, are the connected regions of its label mask (touching cells then count as
one). The cells head learns four channels (CELL_CHANNELS): the whole cell and the nucleus (from the label
mask), each cell's outline (a band BORDER_PX wide inside its edge, drawn wherever the edge runs, across
other cells too) and the pixels two or more cells cover. They are packed as bits of one uint8 per pixel,
so that resizing and augmenting them by nearest neighbour moves all four alike.
"""

import os
from pathlib import Path

import cv2
import numpy as np
from skimage.measure import label

from flexunet.config.names import CELL_CHANNELS
from flexunet.data.cell_labels import read_cell_labels
from flexunet.data.geojson import read_cells_geojson
from flexunet.data.instances import Cell, cell_from_masks, cells_from_regions, coverage
from flexunet.data.io import GEOJSON_SUFFIXES, image_shape
from flexunet.data.labels import read_labels
from flexunet.data.pairs import Pair

BITS = tuple(1 << k for k in range(len(CELL_CHANNELS)))  # cell, nucleus, border, overlap
BORDER_PX = 2  # the outline's width at the model's scale
NUCLEUS = 2  # the nucleus class of a 3-class label mask


def is_geojson(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in GEOJSON_SUFFIXES


def read_cells(path: str | os.PathLike, shape: tuple[int, int], labels: np.ndarray | None = None) -> list[Cell]:
    """The cells of an instance annotation on an image of `shape`: GeoJSON (cells with their nuclei), or a
    label image whose cells take their nuclei from the 3-class `labels` (H, W)."""
    if is_geojson(path):
        return read_cells_geojson(path, shape)
    nucleus = None if labels is None else labels == NUCLEUS
    return read_cell_labels(path, shape, nucleus)


def sample_cells(pair: Pair, labels: np.ndarray) -> list[Cell]:
    """The cells of one sample at its image's size (`labels` its 3-class label mask): its instance file, the
    GeoJSON that is its mask, or the connected regions of its labels."""
    if pair.cells is not None:
        return read_cells(pair.cells, labels.shape, labels)
    if is_geojson(pair.mask):
        return read_cells_geojson(pair.mask, labels.shape)
    return connected_cells(labels)


def truth_cells(pairs: list[Pair], size: tuple[int, int]) -> list[list[Cell]]:
    """Each pair's true cells on its image resized to `size` (the model's input), as evaluation scores them."""
    out = []
    for pair in pairs:
        shape = image_shape(pair.image)
        labels = read_labels(pair.mask, 3, shape)
        out.append(resize_cells(sample_cells(pair, labels), shape, size))
    return out


def resize_cells(cells: list[Cell], shape: tuple[int, int], size: tuple[int, int]) -> list[Cell]:
    """The cells of an image of `shape` on the image resized to `size` (nearest neighbour, as the masks);
    a cell too small to keep a pixel is dropped."""
    if tuple(shape) == tuple(size):
        return list(cells)
    out = []
    sy, sx = size[0] / shape[0], size[1] / shape[1]
    for c in cells:
        whole = np.zeros(size, np.uint8)
        nucleus = np.zeros(size, np.uint8)
        top, left, bottom, right = c.box
        y0, x0 = int(np.floor(top * sy)), int(np.floor(left * sx))
        y1, x1 = max(y0 + 1, int(np.ceil(bottom * sy))), max(x0 + 1, int(np.ceil(right * sx)))
        whole[y0:y1, x0:x1] = cv2.resize(c.cell.astype(np.uint8), (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
        nucleus[y0:y1, x0:x1] = cv2.resize(c.nucleus.astype(np.uint8), (x1 - x0, y1 - y0),
                                           interpolation=cv2.INTER_NEAREST)
        made = cell_from_masks(c.id, whole > 0, nucleus > 0)
        if made is not None:
            out.append(made)
    return out


def connected_cells(labels: np.ndarray) -> list[Cell]:
    """The cells of a 3-class label mask without instances: each 8-connected region of cytoplasm and nucleus,
    with the nucleus pixels inside it (numbered top to bottom, left to right)."""
    return cells_from_regions(label(labels > 0, connectivity=2), labels == NUCLEUS)


def _outline(cell: Cell, shape: tuple[int, int], width: int) -> np.ndarray:
    """The band of `width` pixels inside the cell's edge (bool, the box's shape); no band along the image's
    own edge, where the cell is cut, not bounded."""
    top, left, bottom, right = cell.box
    sides = ((width, width), (width, width))
    padded = np.pad(cell.cell, sides, mode="constant").astype(np.uint8)
    for axis, (at_start, at_end) in enumerate(((top == 0, bottom >= shape[0]), (left == 0, right >= shape[1]))):
        index = [slice(None), slice(None)]
        if at_start:
            index[axis] = slice(0, width)
            source = [slice(None), slice(None)]
            source[axis] = slice(width, width + 1)
            padded[tuple(index)] = padded[tuple(source)]
        if at_end:
            index[axis] = slice(padded.shape[axis] - width, None)
            source = [slice(None), slice(None)]
            source[axis] = slice(padded.shape[axis] - width - 1, padded.shape[axis] - width)
            padded[tuple(index)] = padded[tuple(source)]
    inner = cv2.erode(padded, np.ones((2 * width + 1, 2 * width + 1), np.uint8), borderValue=0)
    return cell.cell & ~inner[width:-width, width:-width].astype(bool)


def pack_targets(labels: np.ndarray, cells: list[Cell], border_px: int = BORDER_PX) -> np.ndarray:
    """The four target channels of one sample as bits (H, W) uint8: the whole cell (labels > 0), the nucleus
    (labels == 2), the cells' outlines `border_px` wide, and the pixels two or more cells cover."""
    shape = labels.shape
    packed = np.where(labels > 0, BITS[0], 0).astype(np.uint8)
    packed[labels == NUCLEUS] |= BITS[1]
    for cell in cells:
        top, left, bottom, right = cell.box
        packed[top:bottom, left:right][_outline(cell, shape, border_px)] |= BITS[2]
    packed[coverage(cells, shape) > 1] |= BITS[3]
    return packed


def packed_labels(packed: np.ndarray) -> np.ndarray:
    """The 3-class labels (0 background, 1 cytoplasm, 2 nucleus) of packed targets."""
    return np.where((packed & BITS[1]) > 0, 2, np.where((packed & BITS[0]) > 0, 1, 0)).astype(np.uint8)


def unpack_targets(packed: np.ndarray) -> np.ndarray:
    """Float32 targets (..., K) in CELL_CHANNELS order of packed bits (...)."""
    return np.stack([(packed & bit) > 0 for bit in BITS], axis=-1).astype(np.float32)


def border_width(image_shape: tuple[int, int], model_size: tuple[int, int], border_px: int = BORDER_PX) -> int:
    """The outline's width in the image's own pixels that becomes border_px at the model's size."""
    return max(1, round(border_px * image_shape[0] / model_size[0]))
