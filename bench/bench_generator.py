"""Time the generator: vectorised vs per-pixel (the seed's getpixel/putpixel) mask extraction, whole pipeline.

python bench/bench_generator.py [--cells 30] [--repeats 3]
Writes bench/results/generator.json. Uses synthetic raw cells (they have masks) and, when present,
the raw BMPs in ../shared/data/mini_test (no masks: image steps only).
"""

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import PIL  # noqa: E402
from PIL import Image, ImageFilter, ImageOps  # noqa: E402

from flexunet.data.io import read_image  # noqa: E402
from flexunet.generators.dataset_generator import (  # noqa: E402
    ANGLES, COPY_PREFIXES, JPEG_QUALITY, cell_copies, generate, paint_mask, paste_centred, thirteen_copies,
    write_jpg,
)
from flexunet.generators.herlev import find_cells, nucleus_mask, read_cell  # noqa: E402
from flexunet.generators.synthetic import write_raw_dataset  # noqa: E402

MINI_TEST = ROOT.parent / "shared" / "data" / "mini_test"
RESIZE, CROPSIZE = 312, 128


def per_pixel_mask(segmentation: Image.Image, color=(255, 255, 255)) -> Image.Image:
    """The seed's way: visit every pixel with getpixel and putpixel the blue == 255 ones."""
    w, h = segmentation.size
    out = Image.new("RGB", (w, h))
    for i in range(w):
        for j in range(h):
            if segmentation.getpixel((i, j))[2] == 255:
                out.putpixel((i, j), color)
    return out


def vectorised_mask(segmentation: Image.Image, color=(255, 255, 255)) -> np.ndarray:
    return paint_mask(nucleus_mask(np.asarray(segmentation)), color)


def pil_copies(image: Image.Image, folder: Path | None, stem: str) -> None:
    """The seed's image steps with PIL: square canvas, crop, 10 rotations, mirror, flip, save.

    With folder None the JPEGs are encoded in memory only (no file-system cost).
    """
    w, h = image.size
    canvas = Image.new("RGB", (RESIZE, RESIZE), image.getpixel((w - 2, h - 2)))
    canvas.paste(image, ((RESIZE - w) // 2, (RESIZE - h) // 2))
    left = (RESIZE - CROPSIZE) // 2
    box = (left, left, left + CROPSIZE, left + CROPSIZE)

    def save(im: Image.Image, name: str) -> None:
        im.save(io.BytesIO() if folder is None else folder / name, format="JPEG")

    save(canvas.crop(box), f"{stem}.jpg")
    for angle in ANGLES:
        save(canvas.rotate(angle).crop(box), f"rotated_{angle}_{stem}.jpg")
    save(ImageOps.mirror(canvas).crop(box), f"mirrored_{stem}.jpg")
    save(ImageOps.flip(canvas).crop(box), f"flipped_{stem}.jpg")


def our_copies(image: np.ndarray, folder: Path | None, stem: str) -> None:
    """Our image steps; with folder None the JPEGs are encoded in memory only."""
    h, w = image.shape[:2]
    canvas = paste_centred(image, max(RESIZE, w, h), tuple(int(v) for v in image[h - 2, w - 2]))[0]
    for prefix, crop in zip(COPY_PREFIXES, thirteen_copies(canvas, CROPSIZE, (0, 0, 0))):
        if folder is None:
            cv2.imencode(".jpg", crop[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        else:
            write_jpg(folder / f"{prefix}{stem}.jpg", crop)


def seed_style_cell(image_path: Path, mask_path: Path, folder: Path | None) -> None:
    """The whole seed pipeline for one cell (PIL, per-pixel mask, BLUR), for comparison."""
    stem = image_path.stem
    pil_copies(Image.open(image_path).convert("RGB"), folder and folder / "images", stem)
    mask = per_pixel_mask(Image.open(mask_path).convert("RGB")).filter(ImageFilter.BLUR)
    pil_copies(mask, folder and folder / "masks", stem)


def our_cell_in_memory(cell) -> None:
    """Our whole pipeline for one cell with the JPEGs encoded in memory only."""
    image, nucleus = read_cell(cell)
    for _, img, mask in cell_copies(image, nucleus, RESIZE, CROPSIZE):
        cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        cv2.imencode(".jpg", mask[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])


def compare(works: dict, repeats: int, per: int) -> dict:
    """min/median/max seconds per item of each work(), runs interleaved so load drift hits all alike."""
    runs: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(repeats):
        for name, work in works.items():
            started = time.perf_counter()
            work()
            runs[name].append((time.perf_counter() - started) / per)
    return {name: {"min": min(r), "median": statistics.median(r), "max": max(r), "runs": r}
            for name, r in runs.items()}


def fresh(root: Path, name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=name, dir=root))
    for sub in ("images", "masks"):
        (folder / sub).mkdir()
    return folder


def measure(root: Path, n_cells: int, repeats: int) -> dict:
    raw = root / "raw"
    write_raw_dataset(raw, {"severe_dysplastic": n_cells}, seed=0)
    cells = find_cells(raw)[0]
    segmentations = [Image.open(c.mask).convert("RGB") for c in cells]
    results: dict = {"mean_pixels_per_cell": sum(s.size[0] * s.size[1] for s in segmentations) / len(cells)}

    masks = compare({"per_pixel": lambda: [per_pixel_mask(s) for s in segmentations],
                     "vectorised": lambda: [vectorised_mask(s) for s in segmentations]}, repeats, len(cells))
    masks["identical_output"] = all((np.asarray(per_pixel_mask(s)) == vectorised_mask(s)).all()
                                    for s in segmentations)
    masks["speedup"] = masks["per_pixel"]["median"] / masks["vectorised"]["median"]
    results["mask_extraction_seconds_per_cell"] = masks

    def ours(seamless: bool):
        return lambda: generate(raw, Path(tempfile.mkdtemp(dir=root)) / "out", RESIZE, CROPSIZE, seamless,
                                progress=False)

    whole = compare({"seed_style": lambda: [seed_style_cell(c.image, c.mask, fresh(root, "seed")) for c in cells],
                     "ours_plain": ours(False), "ours_seamless": ours(True)}, repeats, len(cells))
    whole["speedup_plain"] = whole["seed_style"]["median"] / whole["ours_plain"]["median"]
    results["generator_with_file_writes_seconds_per_cell"] = whole

    memory = compare({"seed_style": lambda: [seed_style_cell(c.image, c.mask, None) for c in cells],
                      "ours_plain": lambda: [our_cell_in_memory(c) for c in cells]}, repeats, len(cells))
    memory["speedup_plain"] = memory["seed_style"]["median"] / memory["ours_plain"]["median"]
    results["generator_in_memory_seconds_per_cell"] = memory

    bmps = sorted(MINI_TEST.glob("*.BMP")) if MINI_TEST.is_dir() else []
    if not bmps:
        results["mini_test_image_copies_seconds_per_cell"] = f"skipped: {MINI_TEST} not found"
        return results
    pil_images = [Image.open(p).convert("RGB") for p in bmps]
    arrays = [read_image(p) for p in bmps]
    mini = compare({
        "seed_style_files": lambda: [pil_copies(im, fresh(root, "p") / "images", p.stem)
                                     for im, p in zip(pil_images, bmps)],
        "ours_files": lambda: [our_copies(a, fresh(root, "o") / "images", p.stem) for a, p in zip(arrays, bmps)],
        "seed_style_in_memory": lambda: [pil_copies(im, None, p.stem) for im, p in zip(pil_images, bmps)],
        "ours_in_memory": lambda: [our_copies(a, None, p.stem) for a, p in zip(arrays, bmps)],
    }, repeats, len(bmps))
    mini["files"] = len(bmps)
    mini["speedup_in_memory"] = mini["seed_style_in_memory"]["median"] / mini["ours_in_memory"]["median"]
    results["mini_test_image_copies_seconds_per_cell"] = mini
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=30, help="synthetic raw cells (default 30)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, at least 3 (default 3)")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "generator.json"))
    args = parser.parse_args(argv)
    repeats = max(3, args.repeats)
    results: dict = {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "load_average": os.getloadavg()},
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "opencv": cv2.__version__,
                     "pillow": PIL.__version__},
        "settings": {"synthetic_cells": args.cells, "repeats": repeats, "resize": RESIZE, "cropsize": CROPSIZE,
                     "our_jpeg_quality": JPEG_QUALITY, "seed_style_jpeg_quality": 75},
    }
    with tempfile.TemporaryDirectory() as tmp:
        results.update(measure(Path(tmp), args.cells, repeats))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    def ms(t: dict) -> str:
        return f"{t['min'] * 1e3:.2f} / {t['median'] * 1e3:.2f} / {t['max'] * 1e3:.2f} ms"

    m = results["mask_extraction_seconds_per_cell"]
    print(f"mask extraction per cell (min / median / max): per-pixel {ms(m['per_pixel'])}; vectorised "
          f"{ms(m['vectorised'])} -> {m['speedup']:.0f}x faster (identical output: {m['identical_output']})")
    w = results["generator_with_file_writes_seconds_per_cell"]
    print(f"whole generator per cell, files written: seed-style {ms(w['seed_style'])}; ours plain "
          f"{ms(w['ours_plain'])}; ours seamless {ms(w['ours_seamless'])} -> {w['speedup_plain']:.1f}x")
    g = results["generator_in_memory_seconds_per_cell"]
    print(f"whole generator per cell, in memory: seed-style {ms(g['seed_style'])}; ours {ms(g['ours_plain'])}"
          f" -> {g['speedup_plain']:.1f}x")
    mini = results["mini_test_image_copies_seconds_per_cell"]
    if isinstance(mini, dict):
        print(f"mini_test image copies per cell, in memory: seed-style {ms(mini['seed_style_in_memory'])}; "
              f"ours {ms(mini['ours_in_memory'])} -> {mini['speedup_in_memory']:.1f}x")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
