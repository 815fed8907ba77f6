"""What the demo prints and records at the end: timings, the held-out scores of each part, where the outputs are."""

import csv
from pathlib import Path

from flexunet.evaluation.outputs import EVALUATION_CSV

FOLDERS = {"nucleus": "test_eval_output", "classes": "all_classes_test_eval_output",
           "fields": "fields_test_eval_output"}


def held_out(project: Path, folder: str = "test_eval_output") -> dict[str, float]:
    """The held-out evaluation's numeric metrics."""
    scores = {}
    with open(project / folder / EVALUATION_CSV) as handle:
        for row in csv.DictReader(handle):
            try:
                scores[row["metric"]] = float(row["value"])
            except ValueError:
                continue
    return scores


def images_of_cells(scores: dict) -> str:
    """'91 images of 7 held-out source cells (13 copies each)': the images are copies, the cells are not."""
    images, cells = int(scores["images"]), int(scores["source_cells"])
    exact = cells and images % cells == 0
    copies = f"{images // cells} copies each" if exact else f"{images / max(cells, 1):.1f} images per cell"
    return f"{images} images of {cells} held-out source cells ({copies})"


def _interval(scores: dict, key: str = "pixel_dice") -> str:
    low, high = scores[key + "_ci95_low"], scores[key + "_ci95_high"]
    return f"{scores[key]:.4f} (95 % interval over cells {low:.3f} to {high:.3f})"


def cells_text(c: dict) -> str:
    """One evaluation's cell-by-cell figures, as the demo prints them."""
    return (f"{int(c['pred_cells'])} cells found for {int(c['truth_cells'])} annotated, whole-cell Dice "
            f"{c['cell_dice']:.3f} over the {int(c['good_cells'])} with Dice > 0.7 (FNo {c['cell_fno']:.3f}, AJI "
            f"{c['aji_cell']:.3f}), nucleus Dice {c['nucleus_dice']:.3f} per nucleus; N/C ratio off by "
            f"{100 * c['nc_ratio_median_relative_error']:.1f} % (median over {int(c['nc_ratio_cells'])} cells)")


def report(project: Path, seconds: dict[str, float], parts: list[str]) -> dict:
    """Print the timings, the held-out scores and where the outputs are; return them."""
    print(f"\n=== demo finished in {sum(seconds.values()):.0f} s")
    for title, s in seconds.items():
        print(f"  {title:40s} {s:6.1f} s")
    scores = held_out(project)
    print(f"Held-out test cells (never seen in training or model selection): pixel Dice {_interval(scores)}, "
          f"IoU {scores['pixel_iou']:.4f}, mean per-image Dice {scores['mean_dice']:.4f} over "
          f"{images_of_cells(scores)}")
    if "classes" in parts:
        c = held_out(project, FOLDERS["classes"])
        print(f"All seven classes, held-out cells: nucleus Dice {_interval(c, 'pixel_dice_nucleus')}, cytoplasm Dice "
              f"{_interval(c, 'pixel_dice_cytoplasm')} on {images_of_cells(c)}; cell by cell: {cells_text(c)}")
    if "fields" in parts:
        f = held_out(project, FOLDERS["fields"])
        print(f"Fields of view, {int(f['images'])} unseen fields: {cells_text(f)}; nucleus pixel Dice "
              f"{f['pixel_dice_nucleus']:.3f}, cytoplasm {f['pixel_dice_cytoplasm']:.3f}")
    places = {
        "best model": "models/best_model.keras (threshold and clean-up in models/model_info.json)",
        "training curves and CSVs": "eval/train_losses.png, eval/train_metrics.png, eval/*.csv",
        "per-epoch predictions": "epoch_change_infer/",
        "evaluation": "eval_output/ and test_eval_output/ (evaluation.csv, per_image.csv, cells.csv, PNGs)",
        "inferred masks and cells": "test_output/ (cells.csv; overlays: test_output_merged/)",
        "tiled masks": "tiled_test_output/ (overlays: tiled_test_output_merged/)",
        "nucleus + cytoplasm": "all_classes_test_output/ and all_classes_test_eval_output/",
        "cells on fields of view": "fields_test_output/ (<field>.geojson for QuPath, <field>_cells.tif for napari, "
                                   "cells.csv; each cell outlined with its N/C: fields_test_output_merged/)",
        "data set pictures": "inspection/",
    }
    for what, where in places.items():
        print(f"  {what:26s} {project}/{where}")
    return {"seconds": seconds, "total_seconds": sum(seconds.values()),
            "held_out": {part: held_out(project, FOLDERS[part]) for part in parts}}
