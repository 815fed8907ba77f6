"""Evaluation on [eval] (or [test]): Keras loss and metrics, plus per-image and pixel Dice/IoU."""

import csv
import io
from pathlib import Path

import numpy as np

from flexunet import plots
from flexunet.config import Config
from flexunet.data.dataset import SegmentationBatches
from flexunet.data.pairs import source_cell_id
from flexunet.data.sources import dataset_source
from flexunet.fsutil import atomic_write_text, prepare_output_dir
from flexunet.modelio import load_trained, read_info
from flexunet.predict import (
    batched,
    confusion,
    dice_from_counts,
    iou_from_counts,
    postprocess_predictor,
    to_mask,
)
from flexunet.scores import cell_bootstrap_ci

PER_IMAGE_COLUMNS = ["file", "source_cell", "dice", "iou", "precision", "recall",
                     "true_pixels", "pred_pixels"]


def ratio(a: int, b: int, empty: float = 1.0) -> float:
    """a / b, or `empty` when b is 0."""
    return empty if b == 0 else a / b


def image_scores(name: str, truth: np.ndarray, pred: np.ndarray) -> dict:
    """Per-image row. Convention: when truth and prediction are both empty, every score is 1."""
    tp, fp, fn = confusion(truth, pred)
    return {
        "file": name, "source_cell": source_cell_id(name),
        "dice": dice_from_counts(tp, fp, fn), "iou": iou_from_counts(tp, fp, fn),
        "precision": ratio(tp, tp + fp, 1.0 if fn == 0 else 0.0),
        "recall": ratio(tp, tp + fn, 1.0 if fp == 0 else 0.0),
        "true_pixels": tp + fn, "pred_pixels": tp + fp, "tp": tp, "fp": fp, "fn": fn,
    }


def summarize(rows: list[dict]) -> dict:
    """Pixel-level (all pixels pooled) and mean-per-image Dice/IoU, precision, recall, and a 95 %
    interval of the pixel Dice over source cells (cell_bootstrap_ci)."""
    tp, fp, fn = (sum(r[k] for r in rows) for k in ("tp", "fp", "fn"))
    low, high = cell_bootstrap_ci(rows)
    return {
        "images": len(rows), "source_cells": len({r["source_cell"] for r in rows}),
        "pixel_dice": dice_from_counts(tp, fp, fn), "pixel_iou": iou_from_counts(tp, fp, fn),
        "pixel_precision": ratio(tp, tp + fp), "pixel_recall": ratio(tp, tp + fn),
        "mean_dice": float(np.mean([r["dice"] for r in rows])) if rows else float("nan"),
        "mean_iou": float(np.mean([r["iou"] for r in rows])) if rows else float("nan"),
        "pixel_dice_ci95_low": low, "pixel_dice_ci95_high": high,
    }


def csv_text(rows: list[dict], columns: list[str]) -> str:
    """CSV of rows with these columns; floats with 6 decimals."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
    return buffer.getvalue()


def seen_in_training(config: Config, section: str) -> str | None:
    """Why the [section] cells are not unseen by the model (a fold ensemble trained on [eval]), or None."""
    info = read_info(config.train.model_dir)
    if section == "eval" and info.get("member_validation") and config.train.validation == "eval":
        return (f"members 2 to {len(info['member_validation'])} of this ensemble_folds ensemble trained on "
                "the [eval] cells, so this figure is optimistic; the [test] section gives the honest one")
    return None


def run_evaluation(config: Config, section: str = "eval") -> dict:
    """Evaluate the best model on the [section] folders; write CSVs and pictures to its output_dir."""
    s = getattr(config, section)
    model, threshold = load_trained(config, compile_model=True)
    caveat = seen_in_training(config, section)
    if caveat:
        print(f"Warning: {caveat}")
    source = dataset_source(config, section, f"for evaluation ([{section}])", training=False).cache(
        desc=f"Loading [{section}]", progress=False)
    protected = {"config folder": Path(config.base_dir), "model folder": Path(config.train.model_dir),
                 "evaluation images": Path(s.image_datapath), "evaluation masks": Path(s.mask_datapath)}
    out = prepare_output_dir(s.output_dir, config.where(section, "output_dir"), protected)
    batch = config.eval.batch_size or config.train.batch_size
    scores = model.evaluate(SegmentationBatches(source, batch), verbose=0, return_dict=True)
    names = ["loss", *config.model.metrics]
    values = [float(scores.get(n, scores.get("compile_metrics", {}).get(n, float("nan")))) for n in names]
    print(f"Test loss    :{round(values[0], 4)}")
    if len(values) > 1:
        print(f"Test accuracy:{round(values[1], 4)}")
    for n, v in zip(names, values):
        print(f"  {n}: {v:.4f}")
    post = config.postprocess
    probs = batched(postprocess_predictor(model, post), source.images, batch * 4)
    rows = [image_scores(p.image.name, source.masks[i] > 127,
                         to_mask(probs[i], threshold, post.keep_largest, post.fill_holes) > 127)
            for i, p in enumerate(source.pairs)]
    summary = summarize(rows)
    metric_rows = [{"metric": n, "value": v} for n, v in zip(names, values)]
    metric_rows += [{"metric": k, "value": v} for k, v in summary.items()]
    metric_rows.append({"metric": "threshold", "value": threshold})
    if caveat:
        metric_rows.append({"metric": "warning", "value": caveat})
    atomic_write_text(out / "evaluation.csv", csv_text(metric_rows, ["metric", "value"]))
    atomic_write_text(out / "per_image.csv", csv_text(rows, PER_IMAGE_COLUMNS))
    print(f"Pixel Dice {summary['pixel_dice']:.4f} (95 % interval over source cells "
          f"{summary['pixel_dice_ci95_low']:.4f} to {summary['pixel_dice_ci95_high']:.4f}), "
          f"IoU {summary['pixel_iou']:.4f}, precision "
          f"{summary['pixel_precision']:.4f}, recall {summary['pixel_recall']:.4f}; mean per-image "
          f"Dice {summary['mean_dice']:.4f} over {summary['images']} images "
          f"({summary['source_cells']} source cells) at threshold {threshold:.2f}")
    _pictures(out, source, probs, rows, threshold, post)
    print(f"Wrote {out / 'evaluation.csv'} and {out / 'per_image.csv'}")
    return {**summary, **dict(zip(names, values)), "threshold": threshold}


def _pictures(out: Path, source, probs, rows, threshold, post) -> None:
    plots.histogram(out / "dice_histogram.png", [r["dice"] for r in rows], "per-image Dice",
                    "Per-image Dice")
    worst = sorted(range(len(rows)), key=lambda i: rows[i]["dice"])[:8]
    images = [source.images[i] for i in worst]
    truths = [plots.overlay(source.images[i], source.masks[i], (255, 255, 0)) for i in worst]
    preds = [plots.overlay(source.images[i], to_mask(probs[i], threshold, post.keep_largest,
                                                     post.fill_holes)) for i in worst]
    titles = [f"{rows[i]['file'][:18]} {rows[i]['dice']:.2f}" for i in worst]
    plots.image_grid(out / "worst_cases.png", [images, truths, preds],
                     ["input", "ground truth", "prediction"], titles, title="Lowest-Dice images")
