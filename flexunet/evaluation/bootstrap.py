"""Uncertainty of pooled pixel Dice over source cells: cell bootstrap intervals, single and paired."""

import numpy as np


def cell_counts(rows: list[dict], suffix: str = "") -> dict[str, np.ndarray]:
    """(TP, FP, FN) summed over each source cell's images, by cell; `suffix` picks a class's counts
    (tp_<suffix>, ...) in multi-class rows."""
    keys = [f"{k}{suffix}" for k in ("tp", "fp", "fn")]
    cells: dict[str, np.ndarray] = {}
    for r in rows:
        cells[r["source_cell"]] = cells.get(r["source_cell"], 0) + np.array([r[k] for k in keys], np.int64)
    return cells


def pooled_dice(counts: np.ndarray) -> np.ndarray:
    """2 TP / (2 TP + FP + FN) over the last two axes (..., cells, 3) of counts; 1 where all are 0,
    as predict.dice_from_counts."""
    tp, fp, fn = np.moveaxis(counts.astype(np.float64).sum(axis=-2), -1, 0)
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 1.0)


def bootstrap_dice(counts: np.ndarray, samples: int = 2000, seed: int = 0) -> np.ndarray:
    """pooled_dice of `samples` draws of whole cells with replacement.

    counts is (..., cells, 3); every leading entry (e.g. two models on the same cells) gets the same
    draws, so their differences are paired. Returns (..., samples).
    """
    picks = np.random.default_rng(seed).integers(0, counts.shape[-2], (samples, counts.shape[-2]))
    return pooled_dice(counts[..., picks, :])


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central `level` share of values: (low, high) percentiles."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def cell_bootstrap_ci(rows: list[dict], samples: int = 2000, level: float = 0.95,
                      seed: int = 0, suffix: str = "") -> tuple[float, float]:
    """Percentile interval of pooled pixel Dice when whole source cells are resampled with replacement.

    A cell's augmented copies move together, so the cells, not the images, are the independent
    units (bootstrap_dice). (nan, nan) without rows.
    """
    cells = cell_counts(rows, suffix)
    if not cells:
        return float("nan"), float("nan")
    return percentile_interval(bootstrap_dice(np.array(list(cells.values())), samples, seed), level)
