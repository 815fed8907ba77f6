"""Dataset inspector core: counts, sizes, mask coverage and pairing problems of one image/mask folder pair."""

from collections import Counter
from pathlib import Path

import cv2
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


MIN_OBJECT = 5  # pixels: smaller specks (JPEG noise on a mask's edge) are not counted as objects


def objects(foreground: np.ndarray) -> list[int]:
    """Pixel sizes of the 8-connected objects of a boolean mask, specks under MIN_OBJECT left out."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(foreground.astype(np.uint8), connectivity=8)
    return [int(a) for a in stats[1:, cv2.CC_STAT_AREA] if a >= MIN_OBJECT]


def inspect_split(image_dir: str, mask_dir: str, threshold: int = 128) -> dict:
    """Statistics of one image/mask folder pair (coverage and objects per mask at `threshold`); problems
    are listed, not raised."""
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
    sizes, coverage, rows, samples, counts, areas = Counter(), [], [], [], [], []
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
        found = objects(mask > threshold)
        counts.append(len(found))
        areas += found
        if img.shape[:2] != mask.shape[:2]:
            problems.append(f"{stem}: image {img.shape[1]}x{img.shape[0]} but mask {mask.shape[1]}x{mask.shape[0]}")
        rows.append(f"{images[stem].name},{source_cell_id(stem)},{img.shape[1]},{img.shape[0]},{frac:.5f},"
                    f"{len(found)}")
        if len(samples) < 8:
            samples.append((resize_image(img, (128, 128)), resize_image(mask, (128, 128))))
    return {
        "pairs": len(rows), "source_cells": len({r.split(",")[1] for r in rows}), "sizes": dict(sizes),
        "coverage": coverage, "empty_masks": sum(c == 0 for c in coverage), "problems": problems,
        "rows": rows, "samples": samples, "objects": counts, "object_pixels": areas,
    }


def describe_objects(result: dict) -> str:
    """'objects per mask 1 to 9 (median 4), 12 to 830 px each' for an inspect_split result."""
    counts, areas = result["objects"], result["object_pixels"]
    if not counts:
        return "no masks read"
    text = f"objects per mask {min(counts)} to {max(counts)} (median {float(np.median(counts)):g})"
    return text + (f", {min(areas)} to {max(areas)} px each" if areas else "")
