"""Scores of predicted masks against the truth: pixel counts, Dice, IoU, per-image rows, threshold search."""

from collections.abc import Sequence

import numpy as np

from flexunet.data.labels import class_names
from flexunet.data.pairs import source_cell_id
from flexunet.evaluation.bootstrap import cell_bootstrap_ci
from flexunet.inference.cells import CellMaker, cell_labels
from flexunet.inference.postprocess import MaskRule, to_mask
from flexunet.inference.predict import PredictFn, batched


def confusion(truth: np.ndarray, pred: np.ndarray) -> tuple[int, int, int]:
    """(TP, FP, FN) pixel counts of boolean masks."""
    t, p = truth.astype(bool), pred.astype(bool)
    return int(np.sum(t & p)), int(np.sum(~t & p)), int(np.sum(t & ~p))


def dice_from_counts(tp: int, fp: int, fn: int) -> float:
    """2TP / (2TP + FP + FN); 1.0 when both masks are empty."""
    denom = 2 * tp + fp + fn
    return 1.0 if denom == 0 else 2.0 * tp / denom


def iou_from_counts(tp: int, fp: int, fn: int) -> float:
    """TP / (TP + FP + FN); 1.0 when both masks are empty."""
    denom = tp + fp + fn
    return 1.0 if denom == 0 else tp / denom


PER_IMAGE_COLUMNS = ["file", "source_cell", "dice", "iou", "precision", "recall",
                     "true_pixels", "pred_pixels"]
SCORED = ("dice", "iou", "precision", "recall", "true_pixels", "pred_pixels")


def ratio(a: int, b: int, empty: float = 1.0) -> float:
    """a / b, or `empty` when b is 0."""
    return empty if b == 0 else a / b


def count_scores(tp: int, fp: int, fn: int, suffix: str = "") -> dict:
    """Dice, IoU, precision, recall and pixel counts of (TP, FP, FN), each key ending in `suffix`.
    Convention: when truth and prediction are both empty, every score is 1."""
    scores = {
        "dice": dice_from_counts(tp, fp, fn), "iou": iou_from_counts(tp, fp, fn),
        "precision": ratio(tp, tp + fp, 1.0 if fn == 0 else 0.0),
        "recall": ratio(tp, tp + fn, 1.0 if fp == 0 else 0.0),
        "true_pixels": tp + fn, "pred_pixels": tp + fp, "tp": tp, "fp": fp, "fn": fn,
    }
    return {f"{k}{suffix}": v for k, v in scores.items()}


def image_scores(name: str, truth: np.ndarray, pred: np.ndarray) -> dict:
    """Per-image row of boolean masks. Convention: when truth and prediction are both empty, every score is 1."""
    return {"file": name, "source_cell": source_cell_id(name), **count_scores(*confusion(truth, pred))}


def label_scores(name: str, truth: np.ndarray, pred: np.ndarray, names: Sequence[str]) -> dict:
    """Per-image row of class-label maps: each foreground class's scores (dice_<name>, ...), and the
    scores of the foreground classes' counts summed (dice, iou, ...; background never counts)."""
    row = {"file": name, "source_cell": source_cell_id(name)}
    per_class = class_confusions(truth, pred, len(names))
    for class_name, counts in zip(names[1:], per_class):
        row.update(count_scores(*(int(v) for v in counts), f"_{class_name}"))
    row.update(count_scores(*(int(v) for v in per_class.sum(axis=0))))
    return row


def class_confusions(truth: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    """(TP, FP, FN) of each foreground class 1 .. classes - 1 of two label maps: (classes - 1, 3)."""
    return np.array([confusion(truth == k, pred == k) for k in range(1, classes)], np.int64).reshape(-1, 3)


def per_image_columns(names: Sequence[str] = ()) -> list[str]:
    """per_image.csv's columns; with class names, each foreground class's scores too."""
    return PER_IMAGE_COLUMNS + [f"{k}_{c}" for c in names[1:] for k in SCORED]


def summarize(rows: list[dict], names: Sequence[str] = ()) -> dict:
    """Pixel-level (all pixels pooled) and mean-per-image Dice/IoU, precision, recall, and a 95 %
    interval of the pixel Dice over source cells (cell_bootstrap_ci); with class names (multi-class
    rows) the same pooled scores per foreground class (pixel_dice_<name>, ...)."""
    out = {"images": len(rows), "source_cells": len({r["source_cell"] for r in rows})}
    for suffix in ["", *(f"_{c}" for c in names[1:])]:
        tp, fp, fn = (sum(r[f"{k}{suffix}"] for r in rows) for k in ("tp", "fp", "fn"))
        low, high = cell_bootstrap_ci(rows, suffix=suffix)
        out.update({f"pixel_dice{suffix}": dice_from_counts(tp, fp, fn),
                    f"pixel_iou{suffix}": iou_from_counts(tp, fp, fn),
                    f"pixel_precision{suffix}": ratio(tp, tp + fp), f"pixel_recall{suffix}": ratio(tp, tp + fn)})
        if not suffix:
            out["mean_dice"] = float(np.mean([r["dice"] for r in rows])) if rows else float("nan")
            out["mean_iou"] = float(np.mean([r["iou"] for r in rows])) if rows else float("nan")
        out.update({f"pixel_dice{suffix}_ci95_low": low, f"pixel_dice{suffix}_ci95_high": high})
    return out


THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def threshold_counts(probs: np.ndarray, truth: np.ndarray, candidates: Sequence[float] = THRESHOLDS,
                     keep_largest: bool = False, holes: bool = False) -> np.ndarray:
    """(TP, FP, FN) pixel counts for each candidate threshold: an array (len(candidates), 3).

    With keep_largest or holes, probs and truth are (N, H, W) and each image's mask is cleaned up as
    to_mask does, so the counts are those of the masks that evaluation and inference write.
    """
    t = truth.astype(bool)
    if not (keep_largest or holes):
        return np.array([confusion(t, probs > float(thr)) for thr in candidates], dtype=np.int64)
    return np.array([np.sum([confusion(ti, to_mask(pi, thr, keep_largest, holes) > 127)
                             for pi, ti in zip(probs, t)], axis=0, dtype=np.int64).reshape(3)
                     for thr in candidates], dtype=np.int64)


def best_threshold_from_counts(counts: np.ndarray, candidates: Sequence[float] = THRESHOLDS) -> tuple[float, float]:
    """(threshold, pixel Dice) maximising aggregate Dice; ties go to the one nearest 0.5."""
    best = (0.5, -1.0)
    for thr, (tp, fp, fn) in zip(candidates, counts):
        dice = dice_from_counts(int(tp), int(fp), int(fn))
        if dice > best[1] + 1e-12 or (abs(dice - best[1]) <= 1e-12 and abs(thr - 0.5) < abs(best[0] - 0.5)):
            best = (float(thr), dice)
    return best


def best_threshold(probs: np.ndarray, truth: np.ndarray, candidates: Sequence[float] = THRESHOLDS,
                   keep_largest: bool = False, holes: bool = False) -> tuple[float, float]:
    """(threshold, pixel Dice) maximising aggregate Dice of the (cleaned-up) masks; ties go to the one
    nearest 0.5."""
    counts = threshold_counts(probs, truth, candidates, keep_largest, holes)
    return best_threshold_from_counts(counts, candidates)


def score_predictions(predict: PredictFn, images: np.ndarray, truths: np.ndarray, names: Sequence[str],
                      rule: "MaskRule | CellMaker", batch_size: int = 32) -> tuple[list[dict], np.ndarray, list, list]:
    """(per-image rows, probabilities, the predictions as written, each image's predicted cells or None) of
    predict() on images against the truths: 0/255 masks (N, H, W) > 127, or with several classes the class
    labels (N, H, W). The predictions are `rule`'s masks or labels; a CellMaker's are the labels of its cells."""
    probs = batched(predict, images, batch_size)
    if isinstance(rule, CellMaker):
        cells = [rule.cells(p) for p in probs]
        predictions = [cell_labels(c, p.shape[:2]) for c, p in zip(cells, probs)]
    else:
        cells, predictions = [None] * len(probs), [rule.apply(p) for p in probs]
    if probs.ndim == 4:
        classes = class_names(3 if isinstance(rule, CellMaker) else probs.shape[-1])
        rows = [label_scores(name, truths[i], predictions[i], classes) for i, name in enumerate(names)]
    else:
        rows = [image_scores(name, truths[i] > 127, predictions[i] > 127) for i, name in enumerate(names)]
    return rows, probs, predictions, cells
