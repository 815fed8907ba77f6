"""Per-cell errors of the evaluator (regions, cell_pairs, error_summary) on hand-built label maps."""

import math

import numpy as np
import pytest

from flexunet.evaluation.cells import CELL_ERROR_COLUMNS, cell_pairs, error_summary, regions


def labels(rows: list[str]) -> np.ndarray:
    """3-class labels from a drawing: "." background, "c" cytoplasm, "n" nucleus."""
    return np.array([[".cn".index(ch) for ch in row] for row in rows], np.uint8)


def test_regions_of_a_binary_mask_and_of_class_labels():
    nucleus, cytoplasm = regions(np.array([[0, 127, 128, 255]], np.uint8), 1)   # masks as written: > 127
    assert nucleus.tolist() == [[False, False, True, True]] and cytoplasm is None
    nucleus, cytoplasm = regions(labels([".cn"]), 3)
    assert nucleus.tolist() == [[False, False, True]] and cytoplasm.tolist() == [[False, True, False]]
    nucleus, cytoplasm = regions(np.array([[0, 1]], np.uint8), 2)          # background / nucleus only
    assert nucleus.tolist() == [[False, True]] and cytoplasm is None


TRUTH = labels([
    "cccccc.ccccc..",
    "cnnnnc.cnnnc..",
    "cnnnnc.cnnnc..",
    "cccccc.ccccc..",
    "..............",
    "..........nnn.",      # a third nucleus (3 px of nucleus class, a cell of its own without cytoplasm)
])
PRED = labels([
    "cccccc.ccccc..",
    "cnnncc.ccccc..",      # cell 1: nucleus 3 x 2 = 6 px of the true 8 (IoU 6/8); cell 2: nucleus missed
    "cnnncc.ccccc..",
    "cccccc.ccccc..",
    "..............",
    "nn..........nn",      # two predicted specks of 2 px (below 5 px: not measured, not counted)
])


def test_cell_pairs_by_hand():
    """Truth: nucleus 1 = 8 px in a 24 px cell (N/C 8/16 = 0.5, N/(N+C) 1/3), nucleus 2 = 6 px in a 20 px
    cell (6/14), nucleus 3 = 3 px (a speck: not measured). Prediction: nucleus 1 = 6 px, all of it inside
    the true one (IoU 6/8 = 0.75 >= 0.5: matched), its cell 24 px (N/C 6/18); nucleus 2 missed."""
    rows, counts = cell_pairs("a.png", np.zeros((6, 14, 3), np.uint8), TRUTH, PRED, 3)
    assert counts == {"true": 2, "pred": 1, "matched": 1}
    (row,) = rows
    assert list(row) == CELL_ERROR_COLUMNS
    assert (row["file"], row["true_cell"], row["pred_cell"]) == ("a.png", 1, 1)
    assert (row["true_nucleus_area_px"], row["pred_nucleus_area_px"]) == (8.0, 6.0)
    assert row["true_nc_ratio"] == pytest.approx(8 / 16) and row["pred_nc_ratio"] == pytest.approx(6 / 18)
    assert row["true_nucleus_to_cell"] == pytest.approx(8 / 24) and row["pred_nucleus_to_cell"] == pytest.approx(6 / 24)


def test_cell_pairs_of_binary_masks_have_no_cytoplasm_measures():
    truth = np.where(TRUTH == 2, 255, 0).astype(np.uint8)
    rows, counts = cell_pairs("b.png", np.zeros((6, 14), np.uint8), truth, truth, 1)
    assert counts == {"true": 2, "pred": 2, "matched": 2}
    assert [(r["true_cell"], r["pred_cell"]) for r in rows] == [(1, 1), (2, 2)]
    assert all(math.isnan(r["true_nc_ratio"]) and math.isnan(r["pred_nc_ratio"]) for r in rows)


def row(true_area: float, pred_area: float, true_nc: float = math.nan, pred_nc: float = math.nan) -> dict:
    return {"true_nucleus_area_px": true_area, "pred_nucleus_area_px": pred_area, "true_nc_ratio": true_nc,
            "pred_nc_ratio": pred_nc, "true_nucleus_to_cell": math.nan, "pred_nucleus_to_cell": math.nan}


def test_error_summary_by_hand():
    """Areas (true, pred): (100, 110), (50, 40): errors +10 and -10: MAE 10, relative (0.1 + 0.2) / 2 = 0.15,
    bias 0. N/C (0.5, 0.4) only, the other NaN: MAE 0.1, relative 0.2, bias -0.1. Counts over two images:
    3 true, 4 predicted, 2 matched: 1 missed, 2 spurious."""
    rows = [row(100, 110, 0.5, 0.4), row(50, 40)]
    got = error_summary(rows, [{"true": 2, "pred": 3, "matched": 2}, {"true": 1, "pred": 1, "matched": 0}])
    assert (got["cells_true"], got["cells_found"], got["cells_missed"], got["cells_spurious"]) == (3, 2, 1, 2)
    assert got["nucleus_area_px_mae"] == pytest.approx(10.0)
    assert got["nucleus_area_px_mean_relative_error"] == pytest.approx(0.15)
    assert got["nucleus_area_px_bias"] == pytest.approx(0.0)
    assert got["nc_ratio_mae"] == pytest.approx(0.1) and got["nc_ratio_mean_relative_error"] == pytest.approx(0.2)
    assert got["nc_ratio_bias"] == pytest.approx(-0.1)
    assert "nucleus_to_cell_mae" not in got          # no finite pair at all: no figure


def test_error_summary_of_nothing_found():
    got = error_summary([], [{"true": 3, "pred": 0, "matched": 0}])
    assert got == {"cells_true": 3, "cells_found": 0, "cells_missed": 3, "cells_spurious": 0}
