"""Turn raw Herlev cells into 13 square image/mask copies each (the seed's generator, vectorised)."""

import functools
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from flexunet.data.io import encode_image
from flexunet.data.labels import to_grey
from flexunet.errors import DataError, OutputError
from flexunet.fsutil import prepare_output_dir
from flexunet.generators.config import check_colors, check_sizes
from flexunet.generators.herlev import CLASSES, RawCell, find_cells, read_cell, read_cell_labels

ANGLES = (30, 90, 120, 150, 180, 210, 240, 270, 300, 330)
COPY_PREFIXES = ("",) + tuple(f"rotated_{a}_" for a in ANGLES) + ("mirrored_", "flipped_")
Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
JPEG_QUALITY = 95
SEAMLESS_MARGIN = 4
_BLUR_RING = np.ones((5, 5), np.float32)
_BLUR_RING[1:4, 1:4] = 0


def pil_blur(image: np.ndarray) -> np.ndarray:
    """PIL's ImageFilter.BLUR: mean of the 16 pixels on the 5x5 ring; the 2-pixel border is kept."""
    sums = cv2.filter2D(image.astype(np.float32), -1, _BLUR_RING, borderType=cv2.BORDER_REPLICATE)
    out = image.copy()
    inner = np.floor(sums / 16.0 + 0.5).astype(np.uint8)
    out[2:-2, 2:-2] = inner[2:-2, 2:-2]
    return out


def paint_mask(nucleus: np.ndarray, color: Color = WHITE) -> np.ndarray:
    """RGB uint8 (H, W, 3): the nucleus in `color` on black."""
    out = np.zeros(nucleus.shape + (3,), np.uint8)
    out[nucleus] = np.asarray(color, np.uint8)
    return out


def canvas_side(width: int, height: int, resize: int, seamless: bool = False) -> int:
    """The square canvas: `resize` per side, grown to hold a larger cell whole (plus a seamless margin)."""
    margin = SEAMLESS_MARGIN if seamless else 0
    return max(resize, width + margin, height + margin)


def paste_centred(image: np.ndarray, side: int, fill: Color) -> tuple[np.ndarray, int, int]:
    """A side x side canvas of `fill` with `image` pasted at ((side-w)//2, (side-h)//2)."""
    h, w = image.shape[:2]
    x, y = (side - w) // 2, (side - h) // 2
    value = tuple(float(v) for v in np.broadcast_to(np.asarray(fill, np.float64), (3,)))
    canvas = cv2.copyMakeBorder(image, y, side - h - y, x, side - w - x, cv2.BORDER_CONSTANT, value=value)
    return canvas, x, y


def seamless_paste(image: np.ndarray, side: int, fill: Color) -> np.ndarray:
    """The cell blended onto a plain canvas of `fill` by Poisson (cv2 NORMAL_CLONE) cloning.

    The clone lands where paste_centred puts the cell, so the mask stays aligned. Cells under
    3 pixels a side have nothing to blend and are pasted.
    """
    h, w = image.shape[:2]
    source, x, y = paste_centred(image, side, fill)
    if min(h, w) < 3:
        return source
    target = np.empty_like(source)
    target[...] = np.asarray(fill, np.uint8)
    region = np.zeros((side, side), np.uint8)
    region[y:y + h, x:x + w] = 255
    centre = (x + w // 2, y + h // 2)
    return cv2.seamlessClone(source, target, region, centre, cv2.NORMAL_CLONE)


def _fixed(value: float) -> int:
    """16.16 fixed point, as PIL's nearest-neighbour affine transform uses."""
    return int(math.floor(value * 65536.0 + 0.5))


@functools.lru_cache(maxsize=64)
def _rotation_maps(side: int, cropsize: int, angle: int) -> tuple[np.ndarray, None]:
    """cv2.remap maps for the centre crop of PIL's rotate(angle): nearest neighbour, bit-exact.

    PIL samples source pixel floor(M . (x + 0.5, y + 0.5)) in 16.16 fixed point; the maps hold
    those integer positions as a CV_16SC2 map (-1 outside the canvas: remap fills the border value).
    """
    rad = -math.radians(angle % 360)
    a, b = round(math.cos(rad), 15), round(math.sin(rad), 15)
    d, e = -b, a
    centre = side / 2.0
    c = a * -centre + b * -centre + centre
    f = d * -centre + e * -centre + centre
    start = (side - cropsize) // 2
    cols, rows = np.meshgrid(np.arange(start, start + cropsize, dtype=np.int64),
                             np.arange(start, start + cropsize, dtype=np.int64))
    src_x = (_fixed(c + a * 0.5 + b * 0.5) + rows * _fixed(b) + cols * _fixed(a)) >> 16
    src_y = (_fixed(f + d * 0.5 + e * 0.5) + rows * _fixed(e) + cols * _fixed(d)) >> 16
    outside = (src_x < 0) | (src_x >= side) | (src_y < 0) | (src_y >= side)
    src_x[outside] = -1
    src_y[outside] = -1
    return cv2.convertMaps(src_x.astype(np.float32), src_y.astype(np.float32), cv2.CV_16SC2,
                           nninterpolation=True)


def _centre_crop(canvas: np.ndarray, cropsize: int) -> np.ndarray:
    start = (canvas.shape[0] - cropsize) // 2
    return canvas[start:start + cropsize, start:start + cropsize]


def rotated_crop(canvas: np.ndarray, cropsize: int, angle: int, fill: Color) -> np.ndarray:
    """The centre crop of the canvas rotated counter-clockwise by `angle` degrees (as PIL rotate)."""
    if angle % 90 == 0:
        return np.ascontiguousarray(_centre_crop(np.rot90(canvas, (angle // 90) % 4), cropsize))
    map_xy, map_fraction = _rotation_maps(canvas.shape[0], cropsize, angle)
    value = tuple(float(v) for v in np.broadcast_to(np.asarray(fill, np.float64), (3,)))
    return cv2.remap(canvas, map_xy, map_fraction, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=value)


def thirteen_copies(canvas: np.ndarray, cropsize: int, fill: Color) -> list[np.ndarray]:
    """Plain, 10 rotations, mirrored (left-right) and flipped (top-bottom) crops, in COPY_PREFIXES order."""
    copies = [np.ascontiguousarray(_centre_crop(canvas, cropsize))]
    copies += [rotated_crop(canvas, cropsize, angle, fill) for angle in ANGLES]
    copies.append(np.ascontiguousarray(_centre_crop(canvas[:, ::-1], cropsize)))
    copies.append(np.ascontiguousarray(_centre_crop(canvas[::-1], cropsize)))
    return copies


def _canvases(image: np.ndarray, resize: int, seamless: bool) -> tuple[np.ndarray, int, Color]:
    """The cell's square image canvas, its side and the fill colour (the pixel at (w-2, h-2), as the seed)."""
    h, w = image.shape[:2]
    side = canvas_side(w, h, resize, seamless)
    fill = tuple(int(v) for v in image[h - 2 if h > 1 else 0, w - 2 if w > 1 else 0])
    canvas = seamless_paste(image, side, fill) if seamless else paste_centred(image, side, fill)[0]
    return canvas, side, fill


def cell_copies(image: np.ndarray, nucleus: np.ndarray, resize: int, cropsize: int,
                seamless: bool = False, color: Color = WHITE) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(prefix, image crop, mask crop) for the 13 copies of one cell, image and mask moved alike; the mask
    is the nucleus in `color`, blurred as the seed's generator did."""
    image_canvas, side, fill = _canvases(image, resize, seamless)
    mask_canvas = paste_centred(pil_blur(paint_mask(nucleus, color)), side, (0, 0, 0))[0]
    images = thirteen_copies(image_canvas, cropsize, fill)
    masks = thirteen_copies(mask_canvas, cropsize, (0, 0, 0))
    return list(zip(COPY_PREFIXES, images, masks))


def label_copies(image: np.ndarray, labels: np.ndarray, resize: int, cropsize: int,
                 seamless: bool = False) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(prefix, image crop, label crop) for the 13 copies of one cell; the labels (0 background,
    1 cytoplasm, 2 nucleus) as their grey levels 0, 128, 255, moved by nearest neighbour, never blurred."""
    image_canvas, side, fill = _canvases(image, resize, seamless)
    label_canvas = paste_centred(np.repeat(to_grey(labels, 3)[:, :, None], 3, axis=2), side, (0, 0, 0))[0]
    images = thirteen_copies(image_canvas, cropsize, fill)
    masks = [m[:, :, 0] for m in thirteen_copies(label_canvas, cropsize, (0, 0, 0))]
    return list(zip(COPY_PREFIXES, images, masks))


def write_jpg(path: Path, rgb: np.ndarray) -> None:
    """Encode an RGB uint8 array as JPEG (quality JPEG_QUALITY) and write it; OutputError on failure."""
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OutputError(f"{path}: expected to encode a JPEG, the encoder failed")
    _write_bytes(path, data.tobytes())


def _write_bytes(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"{path}: cannot be written ({exc.strerror or exc})") from exc


def _write_cell(cell: RawCell, out: Path, resize: int, cropsize: int, seamless: bool, color,
                targets: str = "nucleus") -> int:
    images_dir, masks_dir = out / cell.class_name / "images", out / cell.class_name / "masks"
    if targets == "nucleus_cytoplasm":
        image, labels = read_cell_labels(cell)
        copies, suffix = label_copies(image, labels, resize, cropsize, seamless), ".png"
    else:
        image, nucleus = read_cell(cell)
        copies, suffix = cell_copies(image, nucleus, resize, cropsize, seamless, color), ".jpg"
    for prefix, img, mask in copies:
        write_jpg(images_dir / f"{prefix}{cell.stem}.jpg", img)
        if suffix == ".png":
            _write_bytes(masks_dir / f"{prefix}{cell.stem}.png", encode_image(mask, ".png"))
        else:
            write_jpg(masks_dir / f"{prefix}{cell.stem}.jpg", mask)
    return len(COPY_PREFIXES)


def generate(base_dir: str | os.PathLike, output_dir: str | os.PathLike, resize: int = 312,
             cropsize: int = 128, seamless: bool = False, mask_colors: dict | None = None,
             classes: Sequence[str] | None = None, progress: bool = True, targets: str = "nucleus") -> dict:
    """Write <output_dir>/<class>/{images,masks}/<prefix><stem>.jpg, 13 copies per raw cell; with targets
    "nucleus_cytoplasm" the masks are label PNGs (0 background, 128 cytoplasm, 255 nucleus).

    Cells without a -d.bmp are skipped with a warning and counted. The output folder must be
    new, empty or made by this toolkit (then it is replaced); it may not hold base_dir.
    Returns counts per class, the skipped files and the seconds per cell.
    """
    check_sizes(resize, cropsize)
    colors = check_colors(mask_colors, lambda name: f"mask colour of {name}")
    cells, report = find_cells(base_dir, classes)
    for line in report.notes():
        print(line, file=sys.stderr)
    if not cells:
        raise DataError(f"base_dir {base_dir}: expected NAME.BMP + NAME-d.bmp pairs in the class folders, "
                        "found none")
    out = prepare_output_dir(output_dir, "output_dir", protected={"base_dir": Path(base_dir)})
    for class_name in dict.fromkeys(c.class_name for c in cells):
        (out / class_name / "images").mkdir(parents=True, exist_ok=True)
        (out / class_name / "masks").mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, int]] = {}
    started = time.perf_counter()
    for cell in tqdm(cells, desc="Generating", unit="cell", disable=None if progress else True,
                     leave=False):
        files = _write_cell(cell, out, resize, cropsize, seamless, colors.get(cell.class_name, WHITE), targets)
        entry = counts.setdefault(cell.class_name, {"cells": 0, "files": 0})
        entry["cells"] += 1
        entry["files"] += files
    seconds = time.perf_counter() - started
    return {
        "output_dir": str(out),
        "classes": {c: counts[c] for c in CLASSES if c in counts},
        "cells": len(cells),
        "skipped": report.skipped,
        "skipped_files": [str(p) for p in report.missing_masks + report.orphan_masks],
        "seconds": seconds,
        "seconds_per_cell": seconds / len(cells),
    }
