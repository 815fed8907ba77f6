"""Dataset inspector: counts, sizes, mask coverage and pairing problems per configured split."""

from collections import Counter
from pathlib import Path

import numpy as np

from flexunet import plots
from flexunet.config import Config
from flexunet.data.dataset import resize_image
from flexunet.data.io import is_image_file, read_image, read_mask
from flexunet.data.pairs import source_cell_id
from flexunet.errors import DataError
from flexunet.fsutil import atomic_write_text, prepare_output_dir


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


def run_dataset_inspection(config: Config) -> dict:
    """Inspect each configured split; write inspection/dataset_*.csv, stats and sample PNGs."""
    out = prepare_output_dir(Path(config.base_dir) / "inspection", "inspection folder", keep=True)
    results = {}
    for section in ("train", "eval", "test"):
        s = getattr(config, section)
        if not (s.image_datapath and s.mask_datapath):
            continue
        r = inspect_split(s.image_datapath, s.mask_datapath, config.mask.threshold)
        results[section] = r
        cov = np.array(r["coverage"]) if r["coverage"] else np.zeros(1)
        print(f"[{section}] {r['pairs']} pairs from {r['source_cells']} source cells; sizes "
              f"{r['sizes']}; nucleus coverage mean {cov.mean():.3f} (min {cov.min():.3f}, max "
              f"{cov.max():.3f}); empty masks {r['empty_masks']}")
        for problem in r["problems"]:
            print(f"  problem: {problem}")
        atomic_write_text(out / f"dataset_{section}.csv",
                          "file,source_cell,width,height,coverage\n" + "\n".join(r["rows"]) + "\n")
        if r["samples"]:
            imgs, masks = zip(*r["samples"])
            plots.image_grid(out / f"{section}_samples.png", [list(imgs), list(masks)],
                             [f"{section}/images", f"{section}/masks"])
        plots.histogram(out / f"dataset_{section}_coverage.png", r["coverage"],
                        "nucleus fraction of the image", f"[{section}] mask coverage")
    if not results:
        raise DataError(f"{config.source}: no [train], [eval] or [test] image_datapath/mask_datapath set")
    labels = list(results)
    plots.bar_chart(out / "dataset_counts.png", labels, [results[k]["pairs"] for k in labels],
                    "image-mask pairs", "Pairs per split")
    print(f"Wrote dataset statistics and samples to {out}")
    return results
