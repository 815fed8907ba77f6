"""Paired comparison of two evaluations of the same cells: is the pixel Dice difference real?"""

import csv
from pathlib import Path

import numpy as np

from flexunet.errors import DataError
from flexunet.evaluation.bootstrap import bootstrap_dice, cell_counts, percentile_interval, pooled_dice

NEEDED = ("source_cell", "dice", "true_pixels", "pred_pixels")


def read_per_image(path: str | Path) -> list[dict]:
    """Rows of an evaluator's per_image.csv with integer tp, fp, fn.

    TP comes back from Dice = 2 TP / (true + predicted pixels), written with 6 decimals (exact for
    images up to about a million pixels); FN = true - TP, FP = predicted - TP.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected an evaluator's per_image.csv)")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in NEEDED if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: expected the columns {', '.join(NEEDED)} of a per_image.csv, "
                            f"missing {', '.join(missing)}")
        rows = []
        for line, r in enumerate(reader, start=2):
            try:
                true, pred, dice = int(r["true_pixels"]), int(r["pred_pixels"]), float(r["dice"])
            except ValueError:
                raise DataError(f"{path} line {line}: expected numbers in dice, true_pixels and "
                                f"pred_pixels, got {r['dice']!r}, {r['true_pixels']!r}, {r['pred_pixels']!r}") from None
            tp = int(round(dice * (true + pred) / 2)) if true + pred else 0
            rows.append({"source_cell": r["source_cell"], "tp": tp, "fp": pred - tp, "fn": true - tp})
    return rows


def paired_difference(baseline: list[dict], candidate: list[dict], samples: int = 2000,
                      level: float = 0.95, seed: int = 0) -> dict:
    """Pixel Dice of both, candidate - baseline, and its interval over the same resampled cells."""
    a, b = cell_counts(baseline), cell_counts(candidate)
    if not (a and b):
        raise DataError("expected two evaluations with images in them, got an empty per_image.csv")
    differ = sorted(set(a) ^ set(b))
    if differ:
        raise DataError(f"expected two evaluations of the same source cells, got {len(differ)} cells in only "
                        f"one of them (e.g. {', '.join(differ[:3])})")
    cells = sorted(a)
    counts = np.array([[a[c] for c in cells], [b[c] for c in cells]])
    draws = bootstrap_dice(counts, samples, seed)
    dice = pooled_dice(counts)
    low, high = percentile_interval(draws[1] - draws[0], level)
    return {"cells": len(cells), "baseline_dice": float(dice[0]), "candidate_dice": float(dice[1]),
            "difference": float(dice[1] - dice[0]), "difference_low": low, "difference_high": high,
            "candidate_better_share": float(np.mean(draws[1] > draws[0]))}


def report(result: dict) -> str:
    """Four lines for the console."""
    verdict = ("the interval excludes 0: a real difference on these cells"
               if result["difference_low"] > 0 or result["difference_high"] < 0
               else "the interval includes 0: these cells cannot tell the two apart")
    return (f"{result['cells']} source cells, pixel Dice: baseline {result['baseline_dice']:.4f}, "
            f"candidate {result['candidate_dice']:.4f}\n"
            f"candidate - baseline = {result['difference']:+.4f}, 95 % interval "
            f"{result['difference_low']:+.4f} to {result['difference_high']:+.4f} (paired bootstrap of cells)\n"
            f"candidate ahead in {100 * result['candidate_better_share']:.1f} % of the resamples\n{verdict}")
