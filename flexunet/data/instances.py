"""Cells as instances: each cell's whole-cell mask with its own nucleus, overlaps between cells allowed.

A cell is kept as two boolean masks cropped to its bounding box, so a field or a slide tile with many
cells costs memory in proportion to the cells, not to the image; cells may overlap (each keeps its
own pixels), which a label image cannot say and these records can.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import find_objects

Box = tuple[int, int, int, int]  # (top, left, bottom, right); bottom and right exclusive


@dataclass(frozen=True, eq=False)
class Cell:
    """One cell: `cell` the whole cell (nucleus included) and `nucleus` its nucleus, bool arrays of the
    box's shape; the nucleus lies inside the cell and may be empty (a cell without a nucleus found)."""

    id: int
    box: Box
    cell: np.ndarray
    nucleus: np.ndarray

    @property
    def cell_area(self) -> int:
        return int(self.cell.sum())

    @property
    def nucleus_area(self) -> int:
        return int(self.nucleus.sum())

    @property
    def cytoplasm_area(self) -> int:
        """Whole cell minus nucleus (a pixel another cell also covers counts for both)."""
        return int((self.cell & ~self.nucleus).sum())

    def full(self, shape: tuple[int, int], which: str = "cell") -> np.ndarray:
        """The `which` ("cell" or "nucleus") mask as a bool array of the whole image's `shape`."""
        out = np.zeros(shape, bool)
        top, left, bottom, right = self.box
        out[top:bottom, left:right] = getattr(self, which)
        return out

    def shifted(self, dy: int, dx: int, new_id: int | None = None) -> "Cell":
        """The same cell moved by (dy, dx) pixels (a window's cell placed in slide coordinates)."""
        top, left, bottom, right = self.box
        return Cell(self.id if new_id is None else new_id, (top + dy, left + dx, bottom + dy, right + dx),
                    self.cell, self.nucleus)


def bounding_box(mask: np.ndarray) -> Box | None:
    """(top, left, bottom, right) of the True pixels of a 2-D bool array, or None when it has none."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def cell_from_masks(cell_id: int, cell: np.ndarray, nucleus: np.ndarray) -> Cell | None:
    """A Cell of full-image bool masks (the nucleus clipped to the cell), or None when the cell is empty."""
    cell = cell | nucleus
    box = bounding_box(cell)
    if box is None:
        return None
    top, left, bottom, right = box
    crop = cell[top:bottom, left:right]
    return Cell(cell_id, box, crop.copy(), (nucleus[top:bottom, left:right] & crop).copy())


def cells_from_regions(regions: np.ndarray, nucleus: np.ndarray) -> list[Cell]:
    """One Cell per id of a region label image (H, W) (ids 1.., gaps allowed), its nucleus being `nucleus`
    inside it: a bool mask, or an id image whose pixels holding the region's id are its nucleus."""
    top_id = int(regions.max(initial=0))
    if top_id > 4 * regions.size + 1024:  # sparse large ids (e.g. 4,000,000,000): number them compactly first
        ids, compact = np.unique(np.concatenate([[0], regions.ravel()]), return_inverse=True)
        regions = compact[1:].reshape(regions.shape)
    else:
        ids = np.arange(top_id + 1)
    cells = []
    for k, box in enumerate(find_objects(regions), 1):
        if box is None:
            continue
        body = regions[box] == k
        inner = nucleus[box] if nucleus.dtype == bool else nucleus[box] == ids[k]
        cells.append(Cell(int(ids[k]), (box[0].start, box[1].start, box[0].stop, box[1].stop), body, body & inner))
    return cells


def cells_from_labels(cell_labels: np.ndarray, nucleus: np.ndarray | None = None,
                      nucleus_labels: np.ndarray | None = None) -> list[Cell]:
    """Cells of a label image: `cell_labels` (H, W) with one id per cell (0 none), or (L, H, W), layers of
    such ids where cells overlap (a cell is the union of its id over the layers). Each cell's nucleus is
    the `nucleus` class mask (H, W) inside it, or, given `nucleus_labels` (H, W), the pixels holding the
    cell's id there. Cells come in increasing id order."""
    layers = cell_labels[None] if cell_labels.ndim == 2 else cell_labels
    inner = nucleus_labels if nucleus_labels is not None else (
        nucleus if nucleus is not None else np.zeros(layers.shape[1:], bool))
    if len(layers) == 1:
        return cells_from_regions(layers[0], inner)
    boxes: dict[int, list[int]] = {}
    for layer in layers:
        for cell in cells_from_regions(layer, np.zeros(layer.shape, bool)):
            top, left, bottom, right = cell.box
            b = boxes.setdefault(cell.id, [top, left, bottom, right])
            b[:] = [min(b[0], top), min(b[1], left), max(b[2], bottom), max(b[3], right)]
    cells = []
    for k in sorted(boxes):
        top, left, bottom, right = boxes[k]
        body = (layers[:, top:bottom, left:right] == k).any(axis=0)
        crop = inner[top:bottom, left:right]
        cells.append(Cell(k, (top, left, bottom, right), body, body & (crop if crop.dtype == bool else crop == k)))
    return cells


def paint(cells: Iterable[Cell], shape: tuple[int, int], which: str = "cell",
          dtype: type = np.uint32, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A label image (H, W) of the cells' ids (`which`: "cell" or "nucleus") over the region of `shape` whose
    top-left corner is `origin` (y, x); where cells overlap, the one painted last (the later in `cells`)
    shows."""
    out = np.zeros(shape, dtype)
    for c in cells:
        top, left, bottom, right = c.box
        top, left, bottom, right = top - origin[0], left - origin[1], bottom - origin[0], right - origin[1]
        region = out[max(top, 0):min(bottom, shape[0]), max(left, 0):min(right, shape[1])]
        mask = getattr(c, which)[max(0, -top):max(0, -top) + region.shape[0],
                                 max(0, -left):max(0, -left) + region.shape[1]]
        region[mask] = c.id
    return out


def coverage(cells: Sequence[Cell], shape: tuple[int, int]) -> np.ndarray:
    """How many cells cover each pixel (H, W) uint8 (clipped at 255)."""
    count = np.zeros(shape, np.uint16)
    for c in cells:
        top, left, bottom, right = c.box
        count[top:bottom, left:right] += c.cell
    return np.minimum(count, 255).astype(np.uint8)
