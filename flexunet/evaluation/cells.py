"""The per-cell measurements on the truth and on the prediction, cell by cell: the errors users meet."""

import math
from collections.abc import Sequence

import numpy as np

from flexunet.inference.measures import match_cells, measure_cells

MEASURED = ("nucleus_area_px", "nc_ratio", "nucleus_to_cell")
CELL_ERROR_COLUMNS = ["file", "true_cell", "pred_cell", *(f"{w}_{m}" for m in MEASURED for w in ("true", "pred"))]


def regions(labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(nucleus, cytoplasm or None) of a 0/255 mask (num_classes 1) or of class labels (the nucleus is the
    last class; with three or more classes the ones between are the cytoplasm)."""
    if num_classes == 1:
        return labels > 127, None
    nucleus = labels == num_classes - 1
    return nucleus, ((labels > 0) & ~nucleus) if num_classes > 2 else None


def cell_pairs(name: str, image: np.ndarray, truth: np.ndarray, pred: np.ndarray,
               num_classes: int) -> tuple[list[dict], dict]:
    """(a row per nucleus found in both, matched at IoU >= 0.5, with its measures on each side;
    counts {true, pred, matched}) of one image."""
    (t_nuc, t_cyto), (p_nuc, p_cyto) = regions(truth, num_classes), regions(pred, num_classes)
    t_rows = {r["cell"]: r for r in measure_cells(t_nuc, image, t_cyto)}
    p_rows = {r["cell"]: r for r in measure_cells(p_nuc, image, p_cyto)}
    pairs = [(i, j) for i, j in match_cells(t_nuc, p_nuc) if j in p_rows]
    rows = [{"file": name, "true_cell": i, "pred_cell": j,
             **{f"{w}_{m}": side[k][m] for m in MEASURED for w, side, k in (("true", t_rows, i), ("pred", p_rows, j))}}
            for i, j in pairs]
    return rows, {"true": len(t_rows), "pred": len(p_rows), "matched": len(pairs)}


def error_summary(rows: Sequence[dict], counts: Sequence[dict]) -> dict:
    """Cells in the truth, found (matched), missed and spurious; for each measure the mean absolute error,
    the mean relative error |pred - true| / true, and the mean difference pred - true (the bias)."""
    total = {k: sum(c[k] for c in counts) for k in ("true", "pred", "matched")}
    out = {"cells_true": total["true"], "cells_found": total["matched"],
           "cells_missed": total["true"] - total["matched"], "cells_spurious": total["pred"] - total["matched"]}
    for m in MEASURED:
        pairs = [(r[f"true_{m}"], r[f"pred_{m}"]) for r in rows
                 if math.isfinite(r[f"true_{m}"]) and math.isfinite(r[f"pred_{m}"])]
        if not pairs:
            continue
        true, pred = np.array(pairs).T
        out[f"{m}_mae"] = float(np.mean(np.abs(pred - true)))
        out[f"{m}_mean_relative_error"] = float(np.mean(np.abs(pred - true)[true > 0] / true[true > 0]))
        out[f"{m}_bias"] = float(np.mean(pred - true))
    return out
