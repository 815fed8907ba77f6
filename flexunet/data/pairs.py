"""Pair images with masks by file stem; group the 13 augmented copies of a cell; split by cell."""

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flexunet.data.io import GEOJSON_SUFFIXES, list_images
from flexunet.errors import DataError

MASK_EXTENSIONS = GEOJSON_SUFFIXES  # besides image files: a GeoJSON of cells is a mask too
CELLS_EXTENSIONS = (*GEOJSON_SUFFIXES, ".tif", ".tiff", ".png")

COPY_PREFIX = re.compile(r"^(?:rotated_\d+_|mirrored_|flipped_)+")
SHOWN = 5


@dataclass(frozen=True)
class Pair:
    """An image, its mask (a label image, or a GeoJSON of cells) and, when there is one, its cell instances."""

    stem: str
    image: Path
    mask: Path
    cells: Path | None = None


def source_cell_id(name: str) -> str:
    """The source cell of a file: its stem without rotated_N_/mirrored_/flipped_ prefixes."""
    stem = Path(name).stem
    return COPY_PREFIX.sub("", stem)


def _by_stem(files: list[Path], what: str) -> dict[str, Path]:
    table: dict[str, Path] = {}
    for f in files:
        if f.stem in table:
            raise DataError(f"{what}: two files share the stem {f.stem!r}: {table[f.stem].name}, {f.name}")
        table[f.stem] = f
    return table


def _listing(names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:SHOWN])
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return shown + more


def pair_files(image_dir: str | os.PathLike, mask_dir: str | os.PathLike,
               image_what: str, mask_what: str, cells_dir: str | os.PathLike | None = None,
               cells_what: str = "cells_datapath") -> list[Pair]:
    """Pairs matched by file stem (a.jpg with a.png, or with a.geojson, is fine), each with its cell
    instances of the same stem in `cells_dir` when given; any unmatched file is an error."""
    images = _by_stem(list_images(image_dir, image_what), image_what)
    masks = _by_stem(list_images(mask_dir, mask_what, MASK_EXTENSIONS), mask_what)
    lonely_images = [images[s].name for s in images.keys() - masks.keys()]
    lonely_masks = [masks[s].name for s in masks.keys() - images.keys()]
    if lonely_images:
        raise DataError(
            f"{mask_what}: {len(lonely_images)} image(s) in {image_dir} have no mask with the same "
            f"name in {mask_dir}: {_listing(lonely_images)}"
        )
    if lonely_masks:
        raise DataError(
            f"{image_what}: {len(lonely_masks)} mask(s) in {mask_dir} have no image with the same "
            f"name in {image_dir}: {_listing(lonely_masks)}"
        )
    cells = _cells_by_stem(cells_dir, cells_what, images, image_dir) if cells_dir is not None else {}
    return [Pair(stem, images[stem], masks[stem], cells.get(stem)) for stem in sorted(images)]


def _cells_by_stem(cells_dir: str | os.PathLike, what: str, images: dict[str, Path],
                   image_dir: str | os.PathLike) -> dict[str, Path]:
    """{stem: cell instances file} of every image; an image without one is an error."""
    files = _by_stem(list_images(cells_dir, what, CELLS_EXTENSIONS), what)
    lonely = [images[s].name for s in images.keys() - files.keys()]
    if lonely:
        raise DataError(f"{what}: {len(lonely)} image(s) in {image_dir} have no cell instances with the same name "
                        f"in {cells_dir}: {_listing(lonely)}")
    return files


def shuffled_cells(names: list[str], seed: int) -> tuple[dict[str, list[int]], list[str]]:
    """({source cell: indices of its copies}, the cells in a seeded random order)."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(source_cell_id(name), []).append(i)
    order = sorted(groups)
    np.random.default_rng(seed).shuffle(order)
    return groups, order


def grouped_split(names: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, held_out): whole source cells held out until >= fraction of the files."""
    groups, order = shuffled_cells(names, seed)
    target = fraction * len(names)
    held: list[int] = []
    for cell in order:
        if len(held) >= target or len(held) + len(groups[cell]) >= len(names):
            break
        held.extend(groups[cell])
    held_set = set(held)
    return [i for i in range(len(names)) if i not in held_set], sorted(held)


def grouped_folds(names: list[str], fraction: float, seed: int, count: int) -> list[list[int]]:
    """Up to `count` disjoint held-out index lists, each whole source cells until >= fraction of the files.

    The cells are shuffled as in grouped_split, so the first fold is grouped_split's held-out set
    whenever that leaves training images.
    """
    groups, order = shuffled_cells(names, seed)
    target = fraction * len(names)
    folds: list[list[int]] = [[]]
    for cell in order:
        if len(folds[-1]) >= target:
            if len(folds) == count:
                break
            folds.append([])
        folds[-1].extend(groups[cell])
    return [sorted(f) for f in folds if f]


def last_files_split(count: int, fraction: float) -> tuple[list[int], list[int]]:
    """Indices (train, held_out) as Keras validation_split: the last fraction of the sorted files."""
    split_at = int(math.floor(count * (1.0 - fraction)))
    return list(range(split_at)), list(range(split_at, count))


def shared_cells(a: list[str], b: list[str]) -> set[str]:
    """Source cells with copies in both lists of file names."""
    return {source_cell_id(n) for n in a} & {source_cell_id(n) for n in b}
