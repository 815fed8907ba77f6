"""Per-cell scores of cell instances on a field of view: ISBI 2014 cell and nucleus scores, AJI, N/C errors.

Truth and prediction are lists of Cell records (flexunet.data.instances) on one image of shape (H, W); cells
may overlap, each keeping its own pixels. Overlaps are counted on the intersection of two boxes only, and
pairs whose boxes do not meet are never looked at, so an image costs memory in proportion to its cells.

Whole cells, as the ISBI 2014 overlapping-cervical-cell challenge scored them: each truth cell G is matched
to the predicted cell S with the highest Dice 2|S∩G| / (|S| + |G|) (ties: the lower predicted id; a
predicted cell may be the match of several truth cells); no overlapping prediction: unmatched, Dice 0.
G is *good* when its Dice > 0.7.
- cell_dice: mean Dice over good cells (NaN when none is good);
- cell_dice_all: mean Dice over all truth cells (NaN when there are none);
- cell_fno: share of truth cells with Dice <= 0.7 (0.0 when there are no truth cells);
- cell_tpp: mean over good cells of |S∩G| / |G| (NaN when none is good);
- cell_fpp: mean over good cells of |S \\ G| / (H·W - |G|) (a cell filling the image counts 0; NaN when
  none is good).

Nuclei: the truth nuclei are the non-empty nuclei of the truth cells, the predicted nuclei those of the
predicted cells.
- nucleus_dice, nucleus_dice_all, nucleus_fno: as for cells, each truth nucleus against the predicted
  nucleus (of any predicted cell) with the highest Dice;
- detection: predicted nucleus P detects truth nucleus T when |P∩T| > 0.6|T| and |P∩T| > 0.6|P| (exact
  integer test), one to one (when overlapping predictions make a nucleus detectable twice, the pairs
  are taken by decreasing |P∩T|, ties by lower truth then lower predicted index);
  nucleus_precision = detected / predicted nuclei (no predicted nuclei: 1.0 when there are no truth
  nuclei either, else 0.0); nucleus_recall = detected / truth nuclei (no truth nuclei: 1.0 when nothing
  is predicted either, else 0.0); nuclei_ratio = predicted / truth nuclei (1.0 when both are 0, NaN
  when only the truth has none).

AJI (Kumar et al. 2017, the original definition), aji_cell over whole cells and aji_nucleus over nuclei:
for each truth object G the predicted object S* of highest IoU |G∩S| / |G∪S| (ties: lower predicted id;
a prediction may be chosen by several truths and then counts each time): C += |G∩S*|, U += |G∪S*|, or,
with no overlapping prediction, U += |G|; then U += |S| for each prediction never chosen. AJI = C / U,
1.0 when U is 0 (nothing on either side). C and U are kept so that images pool as sum C / sum U.

N/C errors, on good cells only, each truth cell against its matched predicted cell, areas of the cells'
own masks (a pixel two cells share counts for both, as the annotation does): nc_ratio = nucleus area /
cytoplasm area (Cell.cytoplasm_area; NaN when the cytoplasm is empty), relative error |pred - true| /
true, NaN where true is 0 or NaN or pred is NaN, and for every cell that is not good. Summaries: median
and mean of the finite relative errors, and the number of cells they are over (nc_ratio_cells,
nucleus_area_cells); NaN when there are none.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from flexunet.data.instances import Box, Cell, bounding_box

GOOD_DICE = 0.7
DETECTION_SHARE = (3, 5)  # 0.6 as an exact fraction: |P∩T| · 5 > |T| · 3
UNMATCHED = -1  # pred_cell and pred_nucleus_cell of a truth cell that no prediction overlaps

CELL_SCORE_COLUMNS = ["file", "truth_cell", "pred_cell", "cell_dice", "good", "tpp", "fpp", "pred_nucleus_cell",
                      "nucleus_dice", "true_cell_area", "pred_cell_area", "true_nucleus_area", "pred_nucleus_area",
                      "true_nc_ratio", "pred_nc_ratio", "nc_ratio_relative_error", "nucleus_area_relative_error"]
MEASURED = ("nc_ratio", "nucleus_area")
SUMMARY_KEYS = ["truth_cells", "pred_cells", "good_cells", "cell_dice", "cell_dice_all", "cell_fno", "cell_tpp",
                "cell_fpp", "aji_cell", "truth_nuclei", "pred_nuclei", "nuclei_detected", "nucleus_dice",
                "nucleus_dice_all", "nucleus_fno", "nucleus_precision", "nucleus_recall", "nuclei_ratio",
                "aji_nucleus", *(f"{m}_{k}" for m in MEASURED
                                 for k in ("median_relative_error", "mean_relative_error", "cells"))]
IMAGE_SCORE_COLUMNS = ["file", *SUMMARY_KEYS]
CELL_SUMMARY_KEYS = ["images", *SUMMARY_KEYS]
COUNTS = ("truth_cells", "pred_cells", "truth_nuclei", "pred_nuclei", "nuclei_detected",
          "aji_cell_intersection", "aji_cell_union", "aji_nucleus_intersection", "aji_nucleus_union")

Region = tuple[Box, np.ndarray]


@dataclass(frozen=True, eq=False)
class ImageCellScores:
    """One image's scores: a row per truth cell (CELL_SCORE_COLUMNS), the counts that pool over images
    (COUNTS: AJI's C as *_intersection and U as *_union) and the image's summary (IMAGE_SCORE_COLUMNS)."""

    name: str
    rows: tuple[dict, ...]
    truth_cells: int
    pred_cells: int
    truth_nuclei: int
    pred_nuclei: int
    nuclei_detected: int
    aji_cell_intersection: int
    aji_cell_union: int
    aji_nucleus_intersection: int
    aji_nucleus_union: int
    summary: dict


def _region(box: Box, mask: np.ndarray) -> Region:
    """The mask cropped to its True pixels, with that crop's box in image coordinates; an empty mask
    gets an empty box, which meets no other."""
    inner = bounding_box(mask)
    if inner is None:
        return (0, 0, 0, 0), np.zeros((0, 0), bool)
    top, left, bottom, right = inner
    return (box[0] + top, box[1] + left, box[0] + bottom, box[1] + right), mask[top:bottom, left:right]


def _overlaps(a: Sequence[Region], b: Sequence[Region]) -> np.ndarray:
    """|A_i ∩ B_j| for every pair, (len(a), len(b)) int64, counted on the two boxes' intersection only;
    pairs whose boxes do not meet are 0 without a look at their pixels."""
    out = np.zeros((len(a), len(b)), np.int64)
    if not a or not b:
        return out
    boxes_a, boxes_b = np.array([r[0] for r in a]), np.array([r[0] for r in b])
    top = np.maximum(boxes_a[:, None, 0], boxes_b[None, :, 0])
    left = np.maximum(boxes_a[:, None, 1], boxes_b[None, :, 1])
    bottom = np.minimum(boxes_a[:, None, 2], boxes_b[None, :, 2])
    right = np.minimum(boxes_a[:, None, 3], boxes_b[None, :, 3])
    for i, j in zip(*np.nonzero((bottom > top) & (right > left))):
        ((ta, la, _, _), ma), ((tb, lb, _, _), mb) = a[i], b[j]
        y0, x0, y1, x1 = top[i, j], left[i, j], bottom[i, j], right[i, j]
        out[i, j] = np.count_nonzero(ma[y0 - ta:y1 - ta, x0 - la:x1 - la] & mb[y0 - tb:y1 - tb, x0 - lb:x1 - lb])
    return out


def _areas(regions: Sequence[Region]) -> np.ndarray:
    return np.array([np.count_nonzero(mask) for _, mask in regions], np.int64)


def _dice(inter: np.ndarray, truth_area: np.ndarray, pred_area: np.ndarray) -> np.ndarray:
    """2|S∩G| / (|S| + |G|) of every pair; 0 where they do not overlap."""
    return np.divide(2.0 * inter, truth_area[:, None] + pred_area[None, :], out=np.zeros(inter.shape),
                     where=inter > 0)


def _best(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each row's column of highest score, UNMATCHED where all are 0; that score). Columns are in
    increasing predicted id, so the first maximum is the lower id."""
    if scores.shape[1] == 0:
        return np.full(scores.shape[0], UNMATCHED), np.zeros(scores.shape[0])
    column = scores.argmax(axis=1)
    best = scores[np.arange(scores.shape[0]), column]
    return np.where(best > 0, column, UNMATCHED), best


def _aji_counts(inter: np.ndarray, truth_area: np.ndarray, pred_area: np.ndarray) -> tuple[int, int]:
    """AJI's (C, U) of the original definition (module docstring)."""
    union = truth_area[:, None] + pred_area[None, :] - inter
    chosen, _ = _best(np.divide(inter, union, out=np.zeros(inter.shape), where=inter > 0))
    used = np.zeros(len(pred_area), bool)
    c = u = 0
    for i, j in enumerate(chosen):
        if j == UNMATCHED:
            u += int(truth_area[i])
        else:
            c, u, used[j] = c + int(inter[i, j]), u + int(union[i, j]), True
    return c, u + int(pred_area[~used].sum())


def _detected(inter: np.ndarray, truth_area: np.ndarray, pred_area: np.ndarray) -> int:
    """Truth nuclei detected one to one by predicted nuclei: |P∩T| > 0.6|T| and |P∩T| > 0.6|P|."""
    num, den = DETECTION_SHARE
    ok = (den * inter > num * truth_area[:, None]) & (den * inter > num * pred_area[None, :])
    pairs = sorted(zip(*np.nonzero(ok)), key=lambda p: (-inter[p], p[0], p[1]))
    truths, preds = set(), set()
    for i, j in pairs:
        if i not in truths and j not in preds:
            truths.add(i)
            preds.add(j)
    return len(truths)


def _ratio(a: float, b: float, empty: float) -> float:
    """a / b, or `empty` when b is 0."""
    return empty if b == 0 else a / b


def nc_ratio(cell: Cell) -> float:
    """Nucleus area / cytoplasm area of a cell's own masks; NaN when its cytoplasm is empty."""
    return _ratio(cell.nucleus_area, cell.cytoplasm_area, math.nan)


def relative_error(true: float, pred: float) -> float:
    """|pred - true| / true; NaN where true is 0 or NaN, or pred is NaN."""
    return abs(pred - true) / true if true > 0 and not math.isnan(pred) else math.nan


def score_image(name: str, truth: Sequence[Cell], pred: Sequence[Cell], shape: tuple[int, int]) -> ImageCellScores:
    """Scores of one image's predicted cells against its truth cells (module docstring), image `shape`
    (H, W). Rows come in the order of `truth`; a truth cell no prediction overlaps has pred_cell and
    pred_nucleus_cell UNMATCHED (-1), Dice 0, tpp and fpp 0 (an empty S), predicted areas 0 and
    pred_nc_ratio NaN; a truth cell with an empty nucleus has nucleus_dice NaN (it is not a truth nucleus)."""
    pred = sorted(pred, key=lambda c: c.id)
    t_cells, p_cells = [_region(c.box, c.cell) for c in truth], [_region(c.box, c.cell) for c in pred]
    t_area, p_area = _areas(t_cells), _areas(p_cells)
    inter = _overlaps(t_cells, p_cells)
    match, dice = _best(_dice(inter, t_area, p_area))

    t_index = [i for i, c in enumerate(truth) if c.nucleus.any()]
    p_index = [j for j, c in enumerate(pred) if c.nucleus.any()]
    t_nuc = [_region(truth[i].box, truth[i].nucleus) for i in t_index]
    p_nuc = [_region(pred[j].box, pred[j].nucleus) for j in p_index]
    tn_area, pn_area = _areas(t_nuc), _areas(p_nuc)
    n_inter = _overlaps(t_nuc, p_nuc)
    n_match, n_dice = _best(_dice(n_inter, tn_area, pn_area))
    nucleus_of = {i: (k, n_match[k], n_dice[k]) for k, i in enumerate(t_index)}

    image_area = int(shape[0]) * int(shape[1])
    rows = []
    for i, g in enumerate(truth):
        j = int(match[i])
        s = pred[j] if j != UNMATCHED else None
        overlap, s_area = (int(inter[i, j]), int(p_area[j])) if s is not None else (0, 0)
        good = bool(dice[i] > GOOD_DICE)
        _, n_j, n_d = nucleus_of.get(i, (None, UNMATCHED, math.nan))
        row = {"file": name, "truth_cell": g.id, "pred_cell": s.id if s is not None else UNMATCHED,
               "cell_dice": float(dice[i]), "good": good, "tpp": _ratio(overlap, int(t_area[i]), 0.0),
               "fpp": _ratio(s_area - overlap, image_area - int(t_area[i]), 0.0),
               "pred_nucleus_cell": pred[p_index[n_j]].id if n_j != UNMATCHED else UNMATCHED,
               "nucleus_dice": float(n_d),
               "true_cell_area": g.cell_area, "pred_cell_area": s.cell_area if s is not None else 0,
               "true_nucleus_area": g.nucleus_area, "pred_nucleus_area": s.nucleus_area if s is not None else 0,
               "true_nc_ratio": nc_ratio(g), "pred_nc_ratio": nc_ratio(s) if s is not None else math.nan}
        for m in MEASURED:
            row[f"{m}_relative_error"] = (relative_error(row[f"true_{m}"], row[f"pred_{m}"]) if good
                                          else math.nan)
        rows.append(row)

    counts = dict(truth_cells=len(truth), pred_cells=len(pred), truth_nuclei=len(t_nuc), pred_nuclei=len(p_nuc),
                  nuclei_detected=_detected(n_inter, tn_area, pn_area))
    counts["aji_cell_intersection"], counts["aji_cell_union"] = _aji_counts(inter, t_area, p_area)
    counts["aji_nucleus_intersection"], counts["aji_nucleus_union"] = _aji_counts(n_inter, tn_area, pn_area)
    return ImageCellScores(name, tuple(rows), **counts, summary={"file": name, **_summary(rows, counts)})


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return float(np.mean(values)) if values else math.nan


def _summary(rows: Sequence[dict], counts: dict) -> dict:
    """The SUMMARY_KEYS of per-cell rows and pooled counts (formulas in the module docstring)."""
    good = [r for r in rows if r["good"]]
    nuclei = [r["nucleus_dice"] for r in rows if r["true_nucleus_area"] > 0]
    n_true, n_pred, found = counts["truth_nuclei"], counts["pred_nuclei"], counts["nuclei_detected"]
    out = {
        "truth_cells": counts["truth_cells"], "pred_cells": counts["pred_cells"], "good_cells": len(good),
        "cell_dice": _mean(r["cell_dice"] for r in good), "cell_dice_all": _mean(r["cell_dice"] for r in rows),
        "cell_fno": _ratio(len(rows) - len(good), len(rows), 0.0),
        "cell_tpp": _mean(r["tpp"] for r in good), "cell_fpp": _mean(r["fpp"] for r in good),
        "aji_cell": _ratio(counts["aji_cell_intersection"], counts["aji_cell_union"], 1.0),
        "truth_nuclei": n_true, "pred_nuclei": n_pred, "nuclei_detected": found,
        "nucleus_dice": _mean(d for d in nuclei if d > GOOD_DICE), "nucleus_dice_all": _mean(nuclei),
        "nucleus_fno": _ratio(sum(d <= GOOD_DICE for d in nuclei), len(nuclei), 0.0),
        "nucleus_precision": _ratio(found, n_pred, 1.0 if n_true == 0 else 0.0),
        "nucleus_recall": _ratio(found, n_true, 1.0 if n_pred == 0 else 0.0),
        "nuclei_ratio": _ratio(n_pred, n_true, 1.0 if n_pred == 0 else math.nan),
        "aji_nucleus": _ratio(counts["aji_nucleus_intersection"], counts["aji_nucleus_union"], 1.0),
    }
    for m in MEASURED:
        errors = [e for e in (r[f"{m}_relative_error"] for r in rows) if not math.isnan(e)]
        out[f"{m}_median_relative_error"] = float(np.median(errors)) if errors else math.nan
        out[f"{m}_mean_relative_error"] = _mean(errors)
        out[f"{m}_cells"] = len(errors)
    return out


def summarize_cell_scores(images: Sequence[ImageCellScores]) -> dict:
    """The CELL_SUMMARY_KEYS pooled over images: means and medians over all cells of all images (not means
    of image means), AJI as sum C / sum U, nucleus detection over all nuclei; no images: as one image with
    nothing on either side."""
    rows = [r for image in images for r in image.rows]
    counts = {k: sum(getattr(image, k) for image in images) for k in COUNTS}
    return {"images": len(images), **_summary(rows, counts)}
