"""Draw synthetic fields of view: several touching and overlapping cells per image, each with its own
small nucleus, like the cervical-cytology sets users bring besides Herlev (grey 512x512 fields, 2 to 10
cells, nuclei about 0.7 % of the pixels), with every cell written as an instance.

Per field: images/<name>.png, masks/<name>.png (the 3-class label mask: 0 background, 128 cytoplasm, 255
nucleus; a binary config reads it as nucleus masks) and cells/<name>.geojson (each cell's whole-cell
outline with its nucleus, overlaps kept: what QuPath exports and the toolkit reads as instances).
"""

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from flexunet.data.geojson import label_mask, write_cells_geojson
from flexunet.data.instances import Cell, cell_from_masks, coverage
from flexunet.data.io import write_image
from flexunet.data.labels import to_grey
from flexunet.errors import ConfigError
from flexunet.fsutil import prepare_output_dir

SPLITS = {"train": 30, "valid": 5, "test": 10}
CELLS_DIR = "cells"
TRIES = 40


@dataclass(frozen=True, eq=False)
class Field:
    """One drawn field: the image (grey (H, W) or RGB (H, W, 3)), its 3-class labels and its cells."""

    image: np.ndarray
    labels: np.ndarray
    cells: tuple[Cell, ...]

    @property
    def nucleus_mask(self) -> np.ndarray:
        """0/255 nucleus mask (what the nucleus-only configs learn)."""
        return np.where(self.labels == 2, 255, 0).astype(np.uint8)


def _blob(shape: tuple[int, int], centre, radius: float, rng, wobble: float = 0.12) -> np.ndarray:
    """Bool mask of an irregular closed blob around `centre` (x, y)."""
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    r = radius * (1 + sum(wobble / k * rng.uniform(0.3, 1) * np.cos(k * angles + rng.uniform(0, 6.3))
                          for k in range(2, 5)))
    sx, sy = rng.uniform(0.8, 1.2, 2)
    pts = np.stack([centre[0] + sx * r * np.cos(angles), centre[1] + sy * r * np.sin(angles)], 1)
    canvas = np.zeros(shape, np.uint8)
    cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)
    return canvas.astype(bool)


def _place_cell(rng, shape: tuple[int, int], scale: float, nuclei: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(cell mask, nucleus mask) of a new cell whose nucleus lies inside it, keeps 2 px inside its edge and
    touches no other nucleus (cells may overlap each other); None when TRIES placements all failed."""
    size = shape[0]
    for _ in range(TRIES):
        centre = rng.uniform(0.1 * size, 0.9 * size, 2)
        cyto_r = rng.uniform(35, 70) * scale
        cell = _blob(shape, centre, cyto_r, rng)
        offset = rng.uniform(-0.35, 0.35, 2) * cyto_r
        nucleus = _blob(shape, centre + offset, rng.uniform(8, 15) * scale, rng)
        inner = cv2.erode(cell.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        apart = cv2.dilate(nuclei.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        if nucleus.any() and not (nucleus & ~inner).any() and not (nucleus & apart).any():
            return cell, nucleus
    return None


def draw_field(rng: np.random.Generator, size: int = 512, cells: tuple[int, int] = (2, 10),
               grey: bool = True) -> Field:
    """A field of `size` x `size` pixels with 2 to 10 cells: translucent cytoplasm, darker where cells
    overlap, each with one small dark nucleus inside it (nuclei never touch); dark debris specks that are
    not nuclei; smooth illumination, blur and noise. Radii scale with size / 512 (nuclei about 8 to 15 px
    at 512). Cells are numbered 1.. in the order drawn."""
    scale = size / 512
    shape = (size, size)
    light = np.full(shape, rng.uniform(205, 225), np.float32)
    light += cv2.resize(rng.uniform(-1, 1, (4, 4)).astype(np.float32), shape, interpolation=cv2.INTER_CUBIC) * 8
    absorb = np.zeros(shape, np.float32)
    nuclei = np.zeros(shape, bool)
    drawn: list[Cell] = []
    for _ in range(int(rng.integers(cells[0], cells[1] + 1))):
        placed = _place_cell(rng, shape, scale, nuclei)
        if placed is None:
            continue
        cell, nucleus = placed
        absorb[cell] += rng.uniform(25, 45)
        absorb[nucleus] += rng.uniform(70, 110)
        nuclei |= nucleus
        drawn.append(cell_from_masks(len(drawn) + 1, cell, nucleus))
    for _ in range(int(rng.integers(2, 8))):
        spot = tuple(int(v) for v in rng.integers(0, size, 2))
        cv2.circle(absorb, spot, max(1, int(rng.uniform(1, 3) * scale)), float(rng.uniform(60, 100)), -1)
    texture = cv2.GaussianBlur(rng.normal(0, 1, shape).astype(np.float32), (0, 0), 1.5) * 12
    image = light - absorb + np.where(nuclei, texture, 0)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.8, 1.4) * max(scale, 0.5))
    image += rng.normal(0, 4, shape).astype(np.float32)
    image = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    if not grey:
        tint = np.array([1.0, rng.uniform(0.85, 0.95), rng.uniform(0.95, 1.05)], np.float32)
        image = np.clip(image[:, :, None] * tint, 0, 255).astype(np.uint8)
    return Field(image, label_mask(drawn, shape), tuple(drawn))


def write_fields(out_dir: str | os.PathLike, counts: dict[str, int] | None = None, size: int = 512,
                 seed: int = 0, grey: bool = True) -> dict:
    """Write <out_dir>/<split>/{images,masks,cells}/<split>_field_NNNN.{png,png,geojson} (default 30 train,
    5 valid, 10 test fields). The same seed and counts give the same files; each field is its own source
    cell. Returns the counts and what the fields hold."""
    counts = dict(SPLITS if counts is None else counts)
    for split, n in counts.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"counts[{split!r}]: expected an int >= 0, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 32:
        raise ConfigError(f"size: expected an int >= 32, got {size!r}")
    out = prepare_output_dir(out_dir, "fields output folder")
    coverage_share, objects, overlapping, cell_counts = [], [], [], []
    for k, (split, n) in enumerate(counts.items()):
        for i in range(n):
            field = draw_field(np.random.default_rng([seed, k, i]), size, grey=grey)
            name = f"{split}_field_{i:04d}"
            write_image(out / split / "images" / f"{name}.png", field.image)
            write_image(out / split / "masks" / f"{name}.png", to_grey(field.labels, 3))
            write_cells_geojson(out / split / CELLS_DIR / f"{name}.geojson", field.cells)
            coverage_share.append(float((field.labels == 2).mean()))
            objects.append(len(field.cells))
            overlapping.append(int((coverage(field.cells, (size, size)) > 1).any()))
            cell_counts.append(len(field.cells))
    return {"output_dir": str(out), "counts": counts, "size": size,
            "nucleus_coverage": float(np.mean(coverage_share)) if coverage_share else 0.0,
            "objects_per_field": (min(objects), max(objects)) if objects else (0, 0),
            "cells": int(sum(cell_counts)), "fields_with_overlaps": int(sum(overlapping))}


def field_folders(out_dir: str | os.PathLike) -> dict[str, Path]:
    """{split/kind: folder} of a write_fields output, e.g. "train/images" or "test/cells"."""
    return {f"{s}/{k}": Path(out_dir) / s / k for s in SPLITS for k in ("images", "masks", CELLS_DIR)}


def rgb_field(rng: np.random.Generator, size: int) -> tuple[np.ndarray, list[Cell]]:
    """A drawn RGB field and its cells, as write_synthetic_slide draws a slide's fields."""
    field = draw_field(rng, size, grey=False)
    return field.image, list(field.cells)
