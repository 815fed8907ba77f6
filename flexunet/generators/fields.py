"""Draw synthetic fields of view: several overlapping cells per image with small nuclei, like the
cervical-cytology sets users bring besides Herlev (grey 512x512 fields, nuclei about 0.7 % of the pixels)."""

import os
from pathlib import Path

import cv2
import numpy as np

from flexunet.data.io import write_image
from flexunet.errors import ConfigError
from flexunet.fsutil import prepare_output_dir

SPLITS = {"train": 30, "valid": 5, "test": 10}


def _blob(shape: tuple[int, int], centre: tuple[float, float], radius: float, rng) -> np.ndarray:
    """Bool mask of an irregular closed blob around `centre`."""
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    r = radius * (1 + sum(0.12 / k * rng.uniform(0.3, 1) * np.cos(k * angles + rng.uniform(0, 6.3))
                          for k in range(2, 5)))
    sx, sy = rng.uniform(0.8, 1.2, 2)
    pts = np.stack([centre[0] + sx * r * np.cos(angles), centre[1] + sy * r * np.sin(angles)], 1)
    canvas = np.zeros(shape, np.uint8)
    cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)
    return canvas.astype(bool)


def draw_field(rng: np.random.Generator, size: int = 512, cells: tuple[int, int] = (2, 10),
               grey: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 (size, size) grey or (size, size, 3) RGB, nucleus mask uint8 0/255 (size, size)).

    2 to 10 cells with translucent, overlapping cytoplasm (darker where cells overlap) and one small
    dark nucleus each; dark debris specks that are not nuclei; smooth illumination, blur and noise.
    Radii scale with size / 512 (nuclei about 8 to 15 px at 512).
    """
    scale = size / 512
    shape = (size, size)
    light = np.full(shape, rng.uniform(205, 225), np.float32)
    light += cv2.resize(rng.uniform(-1, 1, (4, 4)).astype(np.float32), shape, interpolation=cv2.INTER_CUBIC) * 8
    absorb = np.zeros(shape, np.float32)
    nuclei = np.zeros(shape, bool)
    for _ in range(int(rng.integers(cells[0], cells[1] + 1))):
        centre = rng.uniform(0.1 * size, 0.9 * size, 2)
        cyto_r = rng.uniform(35, 70) * scale
        absorb[_blob(shape, centre, cyto_r, rng)] += rng.uniform(25, 45)
        offset = rng.uniform(-0.35, 0.35, 2) * cyto_r
        nucleus = _blob(shape, centre + offset, rng.uniform(8, 15) * scale, rng)
        absorb[nucleus] += rng.uniform(70, 110)
        nuclei |= nucleus
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
    return image, np.where(nuclei, 255, 0).astype(np.uint8)


def write_fields(out_dir: str | os.PathLike, counts: dict[str, int] | None = None, size: int = 512,
                 seed: int = 0, grey: bool = True) -> dict:
    """Write <out_dir>/<split>/{images,masks}/<split>_field_NNNN.png (default 30 train, 5 valid, 10 test fields).

    The same seed and counts give the same files; each field is its own source cell.
    """
    counts = dict(SPLITS if counts is None else counts)
    for split, n in counts.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"counts[{split!r}]: expected an int >= 0, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 32:
        raise ConfigError(f"size: expected an int >= 32, got {size!r}")
    out = prepare_output_dir(out_dir, "fields output folder")
    coverage, objects = [], []
    for k, (split, n) in enumerate(counts.items()):
        for i in range(n):
            image, mask = draw_field(np.random.default_rng([seed, k, i]), size, grey=grey)
            write_image(out / split / "images" / f"{split}_field_{i:04d}.png", image)
            write_image(out / split / "masks" / f"{split}_field_{i:04d}.png", mask)
            coverage.append(float((mask > 0).mean()))
            objects.append(cv2.connectedComponents((mask > 0).astype(np.uint8))[0] - 1)
    return {"output_dir": str(out), "counts": counts, "size": size,
            "nucleus_coverage": float(np.mean(coverage)) if coverage else 0.0,
            "objects_per_field": (min(objects), max(objects)) if objects else (0, 0)}


def field_folders(out_dir: str | os.PathLike) -> dict[str, Path]:
    """{split/kind: folder} of a write_fields output, e.g. "train/images"."""
    return {f"{s}/{k}": Path(out_dir) / s / k for s in SPLITS for k in ("images", "masks")}
