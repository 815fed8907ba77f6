"""A synthetic whole slide for benchmarks and tests: fields of view drawn on a grid, some left blank, with the truth.

The slide is a pyramidal RGB OME-TIFF written row of fields by row of fields (memory: one row of fields
and one row of tiles). Beside it, `<stem>.cells.json` records for every drawn cell its bounding box and
nucleus centroid in slide coordinates (not its masks), the grid and which grid positions are blank.
"""

import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from flexunet.data.instances import Box, Cell, bounding_box
from flexunet.data.pyramid import write_pyramid
from flexunet.errors import ConfigError, DataError
from flexunet.fsutil import atomic_write_text

BLANK = 235
TRUTH_SUFFIX = ".cells.json"
Drawer = Callable[[np.random.Generator, int], tuple[np.ndarray, list[Cell]]]


@dataclass(frozen=True)
class CellTruth:
    """One drawn cell: `box` (top, left, bottom, right, exclusive) of its visible pixels and its nucleus
    centroid (y, x) in slide pixels (None when the nucleus is empty or cut off), `field` its (row, column)."""

    id: int
    field: tuple[int, int]
    box: Box
    nucleus_centroid: tuple[float, float] | None


@dataclass(frozen=True)
class SlideTruth:
    """What a synthetic slide holds: a `grid` (rows, columns) of `field_size` fields over a `size` x `size`
    slide, the `blank` grid positions and the cells of the others."""

    size: int
    field_size: int
    tile: int
    seed: int
    grid: tuple[int, int]
    blank: tuple[tuple[int, int], ...]
    cells: tuple[CellTruth, ...]

    def field_box(self, row: int, col: int) -> Box:
        """(top, left, bottom, right) of grid position (row, col) in slide pixels, cut at the slide's edge."""
        f = self.field_size
        return row * f, col * f, min((row + 1) * f, self.size), min((col + 1) * f, self.size)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "SlideTruth":
        data = json.loads(text)
        cells = tuple(CellTruth(int(c["id"]), tuple(c["field"]), tuple(c["box"]),
                                None if c["nucleus_centroid"] is None else tuple(c["nucleus_centroid"]))
                      for c in data["cells"])
        return cls(int(data["size"]), int(data["field_size"]), int(data["tile"]), int(data["seed"]),
                   tuple(data["grid"]), tuple(tuple(b) for b in data["blank"]), cells)


def truth_path(slide_path: str | os.PathLike) -> Path:
    """`<stem>.cells.json` beside the slide (x.tif and x.ome.tif both give x.cells.json)."""
    path = Path(slide_path)
    stem = path.name[:-len(path.suffix)] if path.suffix else path.name
    stem = stem[:-4] if stem.lower().endswith(".ome") else stem
    return path.with_name(stem + TRUTH_SUFFIX)


def read_truth(path: str | os.PathLike) -> SlideTruth:
    """The truth record of a synthetic slide (give the slide or the .cells.json path)."""
    path = Path(path)
    path = path if path.name.endswith(TRUTH_SUFFIX) else truth_path(path)
    try:
        return SlideTruth.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"slide truth {path}: file not found") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"slide truth {path}: expected a synthetic slide's cells record, "
                        f"found unreadable content ({type(exc).__name__}: {exc})") from exc


def _clip(cell: Cell, height: int, width: int, dy: int, dx: int) -> tuple[Box, tuple[float, float] | None] | None:
    """The box (slide coordinates) and nucleus centroid of the part of a field's cell inside the field's
    visible (height, width), or None when nothing of it is visible."""
    top, left, bottom, right = cell.box
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(bottom, height), min(right, width)
    if y1 <= y0 or x1 <= x0:
        return None
    window = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    visible, nucleus = cell.cell[window] | cell.nucleus[window], cell.nucleus[window]
    box = bounding_box(visible)
    if box is None:
        return None
    centroid = None
    if nucleus.any():
        ys, xs = np.nonzero(nucleus)
        centroid = (float(ys.mean()) + y0 + dy, float(xs.mean()) + x0 + dx)
    return (box[0] + y0 + dy, box[1] + x0 + dx, box[2] + y0 + dy, box[3] + x0 + dx), centroid


class _Fields:
    """Draws the slide's rows of fields as level-0 tiles are needed, collecting the cells' truth."""

    def __init__(self, size: int, field_size: int, seed: int, tile: int, draw: Drawer, blank: set) -> None:
        self.size, self.field_size, self.seed, self.tile = size, field_size, seed, tile
        self.draw, self.blank = draw, blank
        self.cells: list[CellTruth] = []

    def row(self, row: int) -> np.ndarray:
        """One row of fields as a (field height, size, 3) band (cut at the slide's bottom)."""
        size, f = self.size, self.field_size
        height = min(f, size - row * f)
        band = np.full((height, size, 3), BLANK, np.uint8)
        for col in range(math.ceil(size / f)):
            if (row, col) in self.blank:
                continue
            width = min(f, size - col * f)
            image, drawn = self.draw(np.random.default_rng([self.seed, row, col]), f)
            if image.shape != (f, f, 3) or image.dtype != np.uint8:
                raise ValueError(f"draw: expected a uint8 ({f}, {f}, 3) image, got {image.dtype} {image.shape}")
            band[:, col * f:col * f + width] = image[:height, :width]
            for cell in drawn:
                clipped = _clip(cell, height, width, row * f, col * f)
                if clipped is not None:
                    self.cells.append(CellTruth(len(self.cells) + 1, (row, col), *clipped))
        return band

    def tiles(self) -> Iterator[np.ndarray]:
        """Level-0 tiles in row-major order; a row of fields is drawn when the tiles first reach it."""
        size, tile = self.size, self.tile
        pending = np.empty((0, size, 3), np.uint8)
        next_row = 0
        for top in range(0, size, tile):
            need = min(tile, size - top)
            while pending.shape[0] < need:
                pending = np.concatenate([pending, self.row(next_row)])
                next_row += 1
            strip, pending = pending[:need], pending[need:]
            for left in range(0, size, tile):
                yield strip[:, left:left + tile]


def write_synthetic_slide(path: str | os.PathLike, size: int, field_size: int, seed: int, draw: Drawer,
                          blank_fraction: float = 0.2, tile: int = 256,
                          pixel_size_um: float | None = None) -> SlideTruth:
    """Write a `size` x `size` RGB pyramidal OME-TIFF of fields drawn by `draw(rng, field_size)` -> (uint8
    (f, f, 3) image, cells in field coordinates) on a grid, `blank_fraction` of the positions left plain
    background (grey BLANK); fields at the right and bottom edges are cut, and so are their cells (the truth
    records the visible part). Returns the truth, also written to truth_path(path). Same seed, same slide.
    """
    for name, value, low in (("size", size, 1), ("field_size", field_size, 1), ("tile", tile, 16)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name}: expected an int >= {low}, got {value!r}")
    if not 0 <= blank_fraction <= 1:
        raise ConfigError(f"blank_fraction: expected a number from 0 to 1, got {blank_fraction!r}")
    grid = (math.ceil(size / field_size),) * 2
    positions = grid[0] * grid[1]
    chosen = np.random.default_rng(seed).choice(positions, round(blank_fraction * positions), replace=False)
    blank = tuple(sorted((int(i) // grid[1], int(i) % grid[1]) for i in chosen))
    fields = _Fields(size, field_size, seed, tile, draw, set(blank))
    write_pyramid(path, (size, size), np.uint8, fields.tiles(), tile=tile, kind="image", channels=3,
                  pixel_size_um=pixel_size_um, description="flexunet synthetic slide")
    truth = SlideTruth(size, field_size, tile, seed, grid, blank, tuple(fields.cells))
    atomic_write_text(truth_path(path), truth.to_json())
    return truth
