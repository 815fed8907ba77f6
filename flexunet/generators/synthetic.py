"""Draw synthetic raw Herlev cells (NAME.BMP + palette NAME-d.bmp), deterministic by seed."""

import os
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from flexunet.errors import ConfigError, OutputError
from flexunet.fsutil import prepare_output_dir
from flexunet.generators.herlev import BACKGROUND, CLASSES, CYTOPLASM, GREY, NUCLEUS

LABEL_COLORS = (BACKGROUND, CYTOPLASM, NUCLEUS, GREY)
BACKGROUND_LABEL, CYTOPLASM_LABEL, NUCLEUS_LABEL, GREY_LABEL = range(4)
MIN_SIDE, MAX_SIDE = 60, 300
GREY_EVERY = 5
_PALETTE = [v for color in LABEL_COLORS for v in color] + [0] * (3 * (256 - len(LABEL_COLORS)))


def _blob(shape: tuple[int, int], centre, radius: float, wobble: float, rng) -> np.ndarray:
    """Bool mask of an irregular closed blob: a circle whose radius varies with a few harmonics."""
    angles = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    r = np.ones_like(angles)
    for k in range(2, 6):
        r += wobble / k * rng.uniform(0.3, 1.0) * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
    sx, sy = rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2)
    pts = np.stack([centre[0] + radius * sx * r * np.cos(angles), centre[1] + radius * sy * r * np.sin(angles)], 1)
    canvas = np.zeros(shape, np.uint8)
    cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)
    return canvas.astype(bool)


def _smooth_noise(shape: tuple[int, int], cells: int, rng) -> np.ndarray:
    """Low-frequency noise in about -1..1: a coarse random grid upsampled smoothly."""
    grid = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _colour(base, jitter: float, rng) -> np.ndarray:
    return np.clip(np.asarray(base, np.float32) + rng.uniform(-jitter, jitter, 3), 0, 255)


def draw_cell(rng: np.random.Generator, grey: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One cell: RGB uint8 (H, W, 3) and labels uint8 (H, W) (0 background, 1 cytoplasm, 2 nucleus, 3 grey).

    Sides are 60..300 px and never equal. The nucleus is darker and bluer than the cytoplasm,
    with texture, noise and blur; dark debris and a neighbouring cell's edge are not nucleus.
    """
    h = int(rng.integers(MIN_SIDE, MAX_SIDE + 1))
    w = int(rng.integers(MIN_SIDE, MAX_SIDE))
    w = w + 1 if w >= h else w
    shape = (h, w)
    short = min(h, w)
    centre = (w / 2 + rng.uniform(-0.08, 0.08) * w, h / 2 + rng.uniform(-0.08, 0.08) * h)
    cyto_r = short * rng.uniform(0.28, 0.40)
    cytoplasm = _blob(shape, centre, cyto_r, 0.35, rng)
    nuc_r = cyto_r * rng.uniform(0.22, 0.45)
    offset = rng.uniform(0, 0.35 * cyto_r - 0.3 * nuc_r, 2) * rng.choice([-1, 1], 2)
    nucleus = _blob(shape, (centre[0] + offset[0], centre[1] + offset[1]), nuc_r, 0.25, rng) & cytoplasm

    labels = np.zeros(shape, np.uint8)
    labels[cytoplasm] = CYTOPLASM_LABEL
    labels[nucleus] = NUCLEUS_LABEL
    background = _colour((214, 200, 216), 12, rng)
    cyto_colour = _colour(((140, 170, 205), (200, 135, 175), (155, 150, 205))[int(rng.integers(3))], 12, rng)
    darkness = rng.uniform(0.42, 0.68)
    nuc_colour = np.clip(cyto_colour * darkness * np.array([0.75, 0.7, 1.0]) + rng.uniform(-10, 10, 3), 0, 255)

    image = np.empty(shape + (3,), np.float32)
    image[...] = background
    if rng.random() < 0.4:
        corner = (float(rng.choice([0, w])), float(rng.choice([0, h])))
        image[_blob(shape, corner, short * rng.uniform(0.2, 0.35), 0.3, rng) & ~cytoplasm] = cyto_colour * 0.97
    image[cytoplasm] = cyto_colour
    image += (_smooth_noise(shape, 6, rng) * 14)[:, :, None]
    chromatin = cv2.GaussianBlur(rng.normal(0, 1, shape).astype(np.float32), (0, 0), 1.2) * 28
    image[nucleus] = nuc_colour + chromatin[nucleus][:, None]
    for _ in range(int(rng.integers(0, 5))):
        spot = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(image, spot, int(rng.integers(1, 4)), tuple(float(v) for v in nuc_colour * 1.1), -1)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.8, 1.6))
    image += rng.normal(0, 5, image.shape).astype(np.float32)
    if grey:
        band = int(rng.integers(2, 6))
        edge = labels[-band:, :]
        edge[edge == BACKGROUND_LABEL] = GREY_LABEL
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), labels


def save_raw_cell(folder: Path, stem: str, image: np.ndarray, labels: np.ndarray) -> tuple[Path, Path]:
    """Write STEM.BMP (RGB) and STEM-d.bmp (8-bit palette BMP with the Herlev colours)."""
    image_path, mask_path = folder / f"{stem}.BMP", folder / f"{stem}-d.bmp"
    segmentation = Image.fromarray(labels)
    segmentation.putpalette(_PALETTE)
    try:
        Image.fromarray(image).save(image_path, format="BMP")
        segmentation.save(mask_path, format="BMP")
    except OSError as exc:
        raise OutputError(f"{image_path}: cannot be written ({exc.strerror or exc})") from exc
    return image_path, mask_path


def _counts(counts) -> dict[str, int]:
    if isinstance(counts, int) and not isinstance(counts, bool):
        counts = {c: counts for c in CLASSES}
    if not isinstance(counts, dict):
        raise ConfigError(f"counts: expected an int or a dict of class name to int, got {counts!r}")
    for name, n in counts.items():
        if name not in CLASSES:
            raise ConfigError(f"counts: expected class names among {', '.join(CLASSES)}, got {name!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"counts[{name!r}]: expected an int >= 0, got {n!r}")
    return {c: counts[c] for c in CLASSES if counts.get(c)}


def _stem(rng, used: set[str]) -> str:
    while True:
        slide = int(rng.integers(149_000_000, 154_000_000))
        stem = f"{slide:09d}-{slide + int(rng.integers(5, 150)):09d}-{int(rng.integers(1, 8)):03d}"
        if stem not in used:
            used.add(stem)
            return stem


def write_raw_dataset(out_dir: str | os.PathLike, counts: dict[str, int] | int, seed: int = 0) -> dict:
    """Write <out_dir>/<class>/NAME.BMP + NAME-d.bmp for `counts` cells per class (an int: every class).

    The same seed and counts give the same files. Every GREY_EVERY-th cell has a grey band.
    """
    wanted = _counts(counts)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed: expected an int >= 0, got {seed!r}")
    out = prepare_output_dir(out_dir, "synthetic output folder")
    started = time.perf_counter()
    used: set[str] = set()
    with_grey = 0
    for class_name, n in wanted.items():
        folder = out / class_name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rng = np.random.default_rng([seed, CLASSES.index(class_name), i])
            grey = i % GREY_EVERY == GREY_EVERY - 1
            image, labels = draw_cell(rng, grey=grey)
            save_raw_cell(folder, _stem(rng, used), image, labels)
            with_grey += grey
    return {
        "output_dir": str(out),
        "cells": wanted,
        "total": sum(wanted.values()),
        "with_grey": with_grey,
        "seconds": time.perf_counter() - started,
    }
