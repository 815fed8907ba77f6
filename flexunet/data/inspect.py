"""Dataset inspector core: counts, sizes, mask coverage and pairing problems of one image/mask folder pair."""

from collections import Counter
from pathlib import Path

import numpy as np

from flexunet.data.dataset import resize_image
from flexunet.data.io import is_image_file, read_image, read_mask
from flexunet.data.pairs import source_cell_id
from flexunet.errors import DataError


def _files(folder: Path) -> tuple[dict[str, Path], list[str]]:
    images, others = {}, []
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        if p.is_file() and is_image_file(p):
            images[p.stem] = p
        elif p.is_file() and not p.name.startswith("."):
            others.append(p.name)
    return images, others


def inspect_split(image_dir: str, mask_dir: str, threshold: int = 128) -> dict:
    """Statistics of one image/mask folder pair; problems are listed, not raised."""
    problems: list[str] = []
    for folder in (image_dir, mask_dir):
        if not Path(folder).is_dir():
            raise DataError(f"folder {folder} not found")
    images, other_i = _files(Path(image_dir))
    masks, other_m = _files(Path(mask_dir))
    if other_i or other_m:
        problems.append(f"{len(other_i) + len(other_m)} non-image file(s) ignored, e.g. {(other_i + other_m)[0]}")
    no_mask = sorted(images.keys() - masks.keys())
    no_image = sorted(masks.keys() - images.keys())
    if no_mask:
        problems.append(f"{len(no_mask)} image(s) without a mask, e.g. {', '.join(no_mask[:5])}")
    if no_image:
        problems.append(f"{len(no_image)} mask(s) without an image, e.g. {', '.join(no_image[:5])}")
    sizes, coverage, rows, samples = Counter(), [], [], []
    for stem in sorted(images.keys() & masks.keys()):
        try:
            img, mask = read_image(images[stem]), read_mask(masks[stem])
        except DataError as exc:
            problems.append(str(exc))
            continue
        if mask.max(initial=0) == 1:
            mask = mask * np.uint8(255)
        sizes[f"{img.shape[1]}x{img.shape[0]}"] += 1
        frac = float((mask > threshold).mean())
        coverage.append(frac)
        if img.shape[:2] != mask.shape[:2]:
            problems.append(f"{stem}: image {img.shape[1]}x{img.shape[0]} but mask {mask.shape[1]}x{mask.shape[0]}")
        rows.append(f"{images[stem].name},{source_cell_id(stem)},{img.shape[1]},{img.shape[0]},{frac:.5f}")
        if len(samples) < 8:
            samples.append((resize_image(img, (128, 128)), resize_image(mask, (128, 128))))
    return {
        "pairs": len(rows), "source_cells": len({r.split(",")[1] for r in rows}), "sizes": dict(sizes),
        "coverage": coverage, "empty_masks": sum(c == 0 for c in coverage), "problems": problems,
        "rows": rows, "samples": samples,
    }
