"""Per-cell instance scores: ISBI 2014 cell and nucleus scores, AJI, detection, N/C errors, pooling."""

import math
import time

import numpy as np
import pytest

from flexunet.data.instances import Cell, cell_from_masks
from flexunet.evaluation.instances import (
    CELL_SCORE_COLUMNS,
    CELL_SUMMARY_KEYS,
    IMAGE_SCORE_COLUMNS,
    UNMATCHED,
    score_image,
    summarize_cell_scores,
)

SHAPE = (10, 12)  # 120 pixels


def cell(cell_id: int, rect: tuple, nucleus: tuple | None = None, shape: tuple = SHAPE) -> Cell:
    """A cell of a rectangle (top, left, bottom, right; exclusive) with an optional rectangular nucleus."""
    mask, inner = np.zeros(shape, bool), np.zeros(shape, bool)
    mask[rect[0]:rect[2], rect[1]:rect[3]] = True
    if nucleus is not None:
        inner[nucleus[0]:nucleus[2], nucleus[1]:nucleus[3]] = True
    return cell_from_masks(cell_id, mask, inner)


def same(got: float, expected: float) -> bool:
    """Equal to 1e-12, NaN equal to NaN."""
    return math.isnan(expected) and math.isnan(got) or got == pytest.approx(expected, abs=1e-12)


def check(summary: dict, expected: dict):
    wrong = {k: (summary[k], v) for k, v in expected.items() if not same(summary[k], v)}
    assert not wrong, wrong


# Truth A = columns 0-3 (40 px), B = columns 4-11 (80 px); the prediction splits the image at column b.
@pytest.mark.parametrize("b, dices, good, tpp, fpp, c, u", [
    # P1 0-4 (50), P2 5-11 (70): A 2*40/90, B 2*70/150; tpp 40/40, 70/80; fpp |P1\A| 10/(120-40), 0/(120-80)
    # AJI: A IoU 40/50, B 70/80 -> 110 / 130
    (5, (8 / 9, 14 / 15), (True, True), (1.0, 7 / 8), (1 / 8, 0.0), 110, 130),
    # P1 0-2 (30), P2 3-11 (90): A 60/70, B 160/170; tpp 30/40, 1; fpp 0, |P2\B| 10/40; AJI (30+80)/(40+90)
    (3, (6 / 7, 16 / 17), (True, True), (3 / 4, 1.0), (0.0, 1 / 4), 110, 130),
    # P1 0-1 (20), P2 2-11 (100): A 40/60 = 2/3 (<= 0.7, still matched to P1: P2 gives 40/140), B 160/180;
    # only B is good: tpp 80/80, fpp 20/40; AJI A IoU 20/40, B 80/100 -> 100/140
    (2, (2 / 3, 8 / 9), (False, True), (0.0, 1.0), (0.0, 1 / 2), 100, 140),
])
def test_touching_cells_with_the_boundary_shifted(b, dices, good, tpp, fpp, c, u):
    truth = [cell(1, (0, 0, 10, 4)), cell(2, (0, 4, 10, 12))]
    got = score_image("f.png", truth, [cell(1, (0, 0, 10, b)), cell(2, (0, b, 10, 12))], SHAPE)
    assert [r["pred_cell"] for r in got.rows] == [1, 2]
    assert [r["cell_dice"] for r in got.rows] == pytest.approx(dices)
    assert tuple(r["good"] for r in got.rows) == good
    kept = [i for i in range(2) if good[i]]
    check(got.summary, {"cell_dice": np.mean([dices[i] for i in kept]), "cell_dice_all": np.mean(dices),
                        "cell_fno": 1 - len(kept) / 2, "cell_tpp": np.mean([tpp[i] for i in kept]),
                        "cell_fpp": np.mean([fpp[i] for i in kept]), "aji_cell": c / u, "good_cells": len(kept)})
    assert (got.aji_cell_intersection, got.aji_cell_union) == (c, u)


def test_a_missed_cell_and_its_nucleus():
    # truth A 0-3 (40 px, nucleus 2x2 = 4), B 4-11 (80 px, nucleus 3x3 = 9); only B is predicted, exactly
    truth = [cell(1, (0, 0, 10, 4), (4, 1, 6, 3)), cell(2, (0, 4, 10, 12), (4, 7, 7, 10))]
    got = score_image("f.png", truth, [cell(7, (0, 4, 10, 12), (4, 7, 7, 10))], SHAPE)
    missed, found = got.rows
    assert (missed["pred_cell"], missed["pred_nucleus_cell"], missed["cell_dice"], missed["good"]) == (
        UNMATCHED, UNMATCHED, 0.0, False)
    assert (missed["nucleus_dice"], missed["pred_cell_area"], missed["tpp"], missed["fpp"]) == (0.0, 0, 0.0, 0.0)
    assert math.isnan(missed["pred_nc_ratio"]) and math.isnan(missed["nc_ratio_relative_error"])
    assert (found["pred_cell"], found["cell_dice"], found["nucleus_dice"]) == (7, 1.0, 1.0)
    # AJI cells: B 80/80, A adds its 40 to U -> 80/120; nuclei: 9/(9 + 4); detection 1 of 2 truth, 1 of 1 predicted
    check(got.summary, {"cell_dice": 1.0, "cell_dice_all": 0.5, "cell_fno": 0.5, "aji_cell": 80 / 120,
                        "truth_nuclei": 2, "pred_nuclei": 1, "nuclei_detected": 1, "nucleus_precision": 1.0,
                        "nucleus_recall": 0.5, "nuclei_ratio": 0.5, "nucleus_dice": 1.0, "nucleus_dice_all": 0.5,
                        "nucleus_fno": 0.5, "aji_nucleus": 9 / 13})
    assert (got.aji_nucleus_intersection, got.aji_nucleus_union) == (9, 13)


@pytest.mark.parametrize("speck", [(7, 2, 8, 4), (4, 5, 5, 7)], ids=["in the cytoplasm", "in the nucleus"])
def test_a_speck_inside_a_truth_cell(speck):
    # truth: 8x10 = 80 px cell with a 3x4 = 12 px nucleus, predicted exactly, plus a 2 px predicted cell that
    # is all nucleus; inside the nucleus it covers 2 of 12 < 0.6 * 12, so it detects nothing either way
    truth = [cell(1, (1, 1, 9, 11), (3, 4, 6, 8))]
    got = score_image("f.png", truth, [cell(1, (1, 1, 9, 11), (3, 4, 6, 8)), cell(2, speck, speck)], SHAPE)
    assert [r["pred_cell"] for r in got.rows] == [1]
    # AJI cells 80 / (80 + 2); nuclei 12 / (12 + 2); detection: 1 of 2 predicted, 1 of 1 truth
    check(got.summary, {"cell_dice": 1.0, "cell_tpp": 1.0, "cell_fpp": 0.0, "pred_cells": 2, "aji_cell": 80 / 82,
                        "pred_nuclei": 2, "nuclei_detected": 1, "nucleus_precision": 0.5, "nucleus_recall": 1.0,
                        "nuclei_ratio": 2.0, "aji_nucleus": 12 / 14, "nucleus_dice": 1.0})


# Truth A columns 0-5 (60 px) and B 4-11 (80 px) share columns 4-5 (20 px); the prediction is a partition.
@pytest.mark.parametrize("split, dices, tpp, c, u", [
    # overlap to A: P1 0-5 (60) = A, P2 6-11 (60): B 2*60/140, tpp 60/80; AJI (60 + 60) / (60 + 80)
    (6, (1.0, 6 / 7), (1.0, 3 / 4), 120, 140),
    # overlap to B: P1 0-3 (40), P2 4-11 (80) = B: A 2*40/100, tpp 40/60; AJI (40 + 80) / (60 + 80)
    (4, (4 / 5, 1.0), (2 / 3, 1.0), 120, 140),
])
def test_overlapping_truth_cells_predicted_as_a_partition(split, dices, tpp, c, u):
    truth = [cell(1, (0, 0, 10, 6)), cell(2, (0, 4, 10, 12))]
    got = score_image("f.png", truth, [cell(1, (0, 0, 10, split)), cell(2, (0, split, 10, 12))], SHAPE)
    assert [r["cell_dice"] for r in got.rows] == pytest.approx(dices)
    assert [r["tpp"] for r in got.rows] == pytest.approx(tpp) and [r["fpp"] for r in got.rows] == [0.0, 0.0]
    check(got.summary, {"cell_dice": np.mean(dices), "cell_fno": 0.0, "aji_cell": c / u})


def test_aji_worked_example_with_a_merge_a_miss_and_a_false_alarm():
    # G1 (0,0)-(4,4) 16 px and G2 (0,4)-(4,8) 16 px are merged into S1 (0,0)-(4,8) 32 px; G3 (6,0)-(10,3)
    # 12 px is missed; S2 (6,8)-(10,12) 16 px is a false alarm.
    # G1: S1 IoU 16/32 -> C 16, U 32; G2 chooses S1 again -> C 16, U 32; G3 -> U 12; S2 unused -> U 16
    # C = 32, U = 92. Whole-cell Dice of G1 and G2: 2*16/48 = 2/3, both matched to S1 (ISBI), neither good.
    truth = [cell(1, (0, 0, 4, 4)), cell(2, (0, 4, 4, 8)), cell(3, (6, 0, 10, 3))]
    got = score_image("f.png", truth, [cell(1, (0, 0, 4, 8)), cell(2, (6, 8, 10, 12))], SHAPE)
    assert (got.aji_cell_intersection, got.aji_cell_union) == (32, 92)
    assert got.summary["aji_cell"] == pytest.approx(8 / 23)
    assert [r["pred_cell"] for r in got.rows] == [1, 1, UNMATCHED]
    assert [r["cell_dice"] for r in got.rows] == pytest.approx([2 / 3, 2 / 3, 0.0])
    check(got.summary, {"cell_dice": math.nan, "cell_fno": 1.0, "cell_tpp": math.nan, "good_cells": 0})


def test_ties_go_to_the_lower_predicted_id():
    # G 2x4 = 8 px; predictions id 5 (left half) and id 3 (right half) given in that order: Dice 8/12 each
    # AJI: IoU 4/8 each, id 3 chosen -> C 4, U 8; id 5 unused -> U + 4 = 12
    got = score_image("f.png", [cell(1, (0, 0, 2, 4))], [cell(5, (0, 0, 2, 2)), cell(3, (0, 2, 2, 4))], SHAPE)
    assert (got.rows[0]["pred_cell"], got.rows[0]["cell_dice"]) == (3, pytest.approx(2 / 3))
    assert (got.aji_cell_intersection, got.aji_cell_union) == (4, 12)


@pytest.mark.parametrize("left, dice, good", [(3, 0.7, False), (2, 0.8, True)])
def test_a_cell_is_good_above_a_dice_of_0_7_only(left, dice, good):
    # truth 10 px on one row, a shifted 10 px prediction overlapping it by 7 (Dice 14/20) or 8 (16/20)
    truth, pred = cell(1, (0, 0, 1, 10), shape=(1, 20)), cell(1, (0, left, 1, left + 10), shape=(1, 20))
    got = score_image("f.png", [truth], [pred], (1, 20))
    assert (got.rows[0]["cell_dice"], got.rows[0]["good"]) == (pytest.approx(dice), good)
    assert got.summary["cell_fno"] == (0.0 if good else 1.0)


@pytest.mark.parametrize("truth, pred, detected", [
    ((0, 0, 1, 10), (0, 0, 1, 6), False),  # |P∩T| = 6 = 0.6 |T|: not more
    ((0, 0, 1, 10), (0, 0, 1, 7), True),   # 7 > 6 and 7 > 0.6 * 7
    ((0, 0, 1, 6), (0, 0, 1, 10), False),  # |P∩T| = 6 = 0.6 |P|: not more
    ((0, 0, 1, 6), (0, 0, 1, 9), True),    # 6 > 5.4 and 6 > 3.6
])
def test_nucleus_detection_at_the_0_6_boundary_both_ways(truth, pred, detected):
    got = score_image("f.png", [cell(1, truth, truth, (1, 12))], [cell(1, pred, pred, (1, 12))], (1, 12))
    assert got.nuclei_detected == int(detected)
    assert (got.summary["nucleus_precision"], got.summary["nucleus_recall"]) == (float(detected),) * 2


@pytest.mark.parametrize("truth, pred, precision, recall", [
    # T 10 px; P1 columns 0-7 (8 px) and P2 columns 1-9 (9 px) overlap each other and each alone would
    # detect T (8 > 6, 8 > 4.8; 9 > 6, 9 > 5.4): 1 detected of 2 predicted
    ([(0, 0, 1, 10)], [(0, 0, 1, 8), (0, 1, 1, 10)], 1 / 2, 1.0),
    # two truth nuclei of overlapping cells, T1 columns 0-9 (10 px), T2 1-9 (9 px), and P columns 0-9 would
    # detect both (10 > 6, 10 > 6; 9 > 5.4, 9 > 6): it detects one, of 2 truth nuclei
    ([(0, 0, 1, 10), (0, 1, 1, 10)], [(0, 0, 1, 10)], 1.0, 1 / 2),
], ids=["two predictions, one truth", "one prediction, two truths"])
def test_detection_is_one_to_one(truth, pred, precision, recall):
    got = score_image("f.png", [cell(k + 1, r, r, (1, 12)) for k, r in enumerate(truth)],
                      [cell(k + 1, r, r, (1, 12)) for k, r in enumerate(pred)], (1, 12))
    check(got.summary, {"nuclei_detected": 1, "nucleus_precision": precision, "nucleus_recall": recall})


def test_a_nucleus_is_matched_over_all_predicted_cells_and_measured_in_the_matched_one():
    # G columns 0-5 (60 px), nucleus rows 4-5 x columns 4-5 (4 px). P1 columns 0-4 (50 px, no nucleus) is
    # G's cell (Dice 100/110; P2 gives 2*12/132); P2 columns 5-11 holds G's nucleus (so its cell also
    # takes those 2 px of column 4). N/C: G 4/56 = 1/14, P1 0/50 = 0 -> relative error 1; nucleus 4 -> 0: 1
    truth = [cell(1, (0, 0, 10, 6), (4, 4, 6, 6))]
    got = score_image("f.png", truth, [cell(1, (0, 0, 10, 5)), cell(2, (0, 5, 10, 12), (4, 4, 6, 6))], SHAPE)
    row = got.rows[0]
    assert (row["pred_cell"], row["cell_dice"], row["good"]) == (1, pytest.approx(10 / 11), True)
    assert (row["pred_nucleus_cell"], row["nucleus_dice"], row["pred_nucleus_area"]) == (2, 1.0, 0)
    assert (row["true_nc_ratio"], row["pred_nc_ratio"]) == (pytest.approx(1 / 14), 0.0)
    assert (row["nc_ratio_relative_error"], row["nucleus_area_relative_error"]) == (1.0, 1.0)


def test_nc_ratio_and_nucleus_area_errors_count_shared_pixels_for_each_cell():
    shape = (10, 32)
    truth = [cell(1, (0, 0, 10, 10), (3, 3, 7, 7), shape),      # 100 px, nucleus 16, cytoplasm 84
             cell(2, (0, 8, 10, 18), (3, 12, 6, 16), shape),    # 100 px (20 shared with 1), nucleus 12, cyto 88
             cell(3, (0, 18, 10, 20), (4, 18, 6, 20), shape),   # 20 px, nucleus 4, cyto 16
             cell(4, (0, 22, 10, 30), (4, 24, 6, 26), shape),   # 80 px, nucleus 4: predicted badly
             cell(5, (0, 30, 10, 32), None, shape)]             # 20 px, no nucleus: true N/C 0
    pred = [cell(1, (0, 0, 10, 9), (3, 3, 7, 8), shape),        # Dice 180/190; nucleus 20, cyto 70
            cell(2, (0, 9, 10, 18), (3, 12, 6, 15), shape),     # Dice 180/190; nucleus 9, cyto 81
            cell(3, (0, 18, 10, 20), (4, 18, 5, 20), shape),    # Dice 1; nucleus 2, cyto 18
            cell(4, (0, 22, 5, 30), (0, 24, 2, 26), shape),     # Dice 80/120 = 2/3: not good
            cell(5, (0, 30, 10, 32), (0, 30, 1, 32), shape)]    # Dice 1; nucleus 2
    got = score_image("f.png", truth, pred, shape)
    rows = got.rows
    # N/C true 4/21, 3/22, 1/4; predicted 2/7, 1/9, 1/9 -> errors (6/21)/(4/21) = 1/2, (5/198)/(27/198) = 5/27,
    # (5/36)/(1/4) = 5/9; nucleus areas 16 -> 20, 12 -> 9, 4 -> 2: errors 1/4, 1/4, 1/2
    assert [r["true_nc_ratio"] for r in rows[:3]] == pytest.approx([4 / 21, 3 / 22, 1 / 4])
    assert [r["pred_nc_ratio"] for r in rows[:3]] == pytest.approx([2 / 7, 1 / 9, 1 / 9])
    assert [r["nc_ratio_relative_error"] for r in rows[:3]] == pytest.approx([1 / 2, 5 / 27, 5 / 9])
    assert [r["nucleus_area_relative_error"] for r in rows[:3]] == pytest.approx([1 / 4, 1 / 4, 1 / 2])
    # cell 4 is not good: its values are there, its errors are not; cell 5 has a true N/C and area of 0
    assert (rows[3]["good"], rows[3]["true_nc_ratio"], rows[3]["pred_nc_ratio"]) == (
        False, pytest.approx(4 / 76), pytest.approx(4 / 36))
    assert all(math.isnan(rows[i][k]) for i in (3, 4)
               for k in ("nc_ratio_relative_error", "nucleus_area_relative_error"))
    check(got.summary, {"nc_ratio_median_relative_error": 1 / 2, "nc_ratio_mean_relative_error": 67 / 162,
                        "nc_ratio_cells": 3, "nucleus_area_median_relative_error": 1 / 4,
                        "nucleus_area_mean_relative_error": 1 / 3, "nucleus_area_cells": 3})


@pytest.mark.parametrize("truth, pred, expected", [
    ([], [], {"truth_cells": 0, "pred_cells": 0, "cell_dice": math.nan, "cell_dice_all": math.nan, "cell_fno": 0.0,
              "cell_tpp": math.nan, "cell_fpp": math.nan, "aji_cell": 1.0, "aji_nucleus": 1.0,
              "nucleus_precision": 1.0, "nucleus_recall": 1.0, "nuclei_ratio": 1.0, "nucleus_dice": math.nan,
              "nucleus_fno": 0.0, "nc_ratio_median_relative_error": math.nan, "nc_ratio_cells": 0}),
    ([(1, (0, 0, 10, 4), (4, 1, 6, 3))], [],
     {"truth_cells": 1, "pred_cells": 0, "cell_dice": math.nan, "cell_dice_all": 0.0, "cell_fno": 1.0,
      "aji_cell": 0.0, "aji_nucleus": 0.0, "nucleus_precision": 0.0, "nucleus_recall": 0.0, "nuclei_ratio": 0.0,
      "nucleus_dice": math.nan, "nucleus_dice_all": 0.0, "nucleus_fno": 1.0}),
    ([], [(1, (0, 0, 10, 4), (4, 1, 6, 3))],
     {"truth_cells": 0, "pred_cells": 1, "cell_dice": math.nan, "cell_dice_all": math.nan, "cell_fno": 0.0,
      "aji_cell": 0.0, "aji_nucleus": 0.0, "nucleus_precision": 0.0, "nucleus_recall": 0.0,
      "nuclei_ratio": math.nan, "nucleus_dice_all": math.nan}),
], ids=["nothing on either side", "truth, no prediction", "prediction, no truth"])
def test_the_empty_cases(truth, pred, expected):
    got = score_image("f.png", [cell(*c) for c in truth], [cell(*c) for c in pred], SHAPE)
    assert len(got.rows) == len(truth)
    check(got.summary, expected)


def test_summary_pools_cells_and_counts_over_images():
    # image X: touching cells split at column 3 (Dice 6/7, 16/17, tpp 3/4, 1, fpp 0, 1/4, AJI 110/130, no nuclei)
    # image Y: B found, A missed (Dice 0, 1, tpp 1, fpp 0, AJI 80/120; nuclei 2 truth, 1 predicted, 1 found,
    # AJI 9/13)
    x = score_image("x.png", [cell(1, (0, 0, 10, 4)), cell(2, (0, 4, 10, 12))],
                    [cell(1, (0, 0, 10, 3)), cell(2, (0, 3, 10, 12))], SHAPE)
    y = score_image("y.png", [cell(1, (0, 0, 10, 4), (4, 1, 6, 3)), cell(2, (0, 4, 10, 12), (4, 7, 7, 10))],
                    [cell(7, (0, 4, 10, 12), (4, 7, 7, 10))], SHAPE)
    s = summarize_cell_scores([x, y])
    assert list(s) == CELL_SUMMARY_KEYS and list(x.summary) == IMAGE_SCORE_COLUMNS
    assert all(list(r) == CELL_SCORE_COLUMNS for r in x.rows + y.rows)
    # over the 3 good cells, not the images' means (those give ((6/7 + 16/17)/2 + 1)/2, 0.9375, 1/16, 0.756...)
    check(s, {"images": 2, "truth_cells": 4, "pred_cells": 3, "good_cells": 3,
              "cell_dice": (6 / 7 + 16 / 17 + 1) / 3, "cell_dice_all": (6 / 7 + 16 / 17 + 0 + 1) / 4,
              "cell_fno": 1 / 4, "cell_tpp": (3 / 4 + 1 + 1) / 3, "cell_fpp": (0 + 1 / 4 + 0) / 3,
              "aji_cell": (110 + 80) / (130 + 120),
              # nuclei pooled (image X alone would give precision and recall 1): 1/1, 1/2, AJI 9/13
              "truth_nuclei": 2, "pred_nuclei": 1, "nuclei_detected": 1, "nucleus_precision": 1.0,
              "nucleus_recall": 0.5, "nuclei_ratio": 0.5, "aji_nucleus": 9 / 13, "nucleus_dice_all": 0.5})


def test_a_huge_image_is_scored_on_the_cells_boxes_only():
    # a 100 000 x 100 000 image (10 GB as a bool array): only the boxes may be looked at
    square, centre = np.ones((10, 10), bool), np.zeros((10, 10), bool)
    centre[3:7, 3:7] = True
    far = Cell(1, (50_000, 50_000, 50_010, 50_010), square, centre)
    near = Cell(2, (0, 0, 10, 10), square, centre)
    pred = [near, far.shifted(0, 5), Cell(3, (99_990, 99_990, 100_000, 100_000), square, centre)]
    got = score_image("f.png", [far, near], pred, (100_000, 100_000))
    # far: shifted by 5 columns, 50 px shared, Dice 0.5, nuclei apart; near exact. AJI (50 + 100) / (150 + 100 + 100)
    assert [r["cell_dice"] for r in got.rows] == [0.5, 1.0]
    assert [r["nucleus_dice"] for r in got.rows] == [0.0, 1.0]
    assert (got.aji_cell_intersection, got.aji_cell_union) == (150, 350)


def test_fifty_cells_against_fifty_score_fast():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:120, :120]
    truth = []
    for k in range(50):
        top, left = (int(v) for v in rng.integers(0, 900, 2))
        r, squared = int(rng.integers(30, 55)), (yy - 60) ** 2 + (xx - 60) ** 2
        truth.append(Cell(k + 1, (top, left, top + 120, left + 120), squared < r * r, squared < r * r // 16))
    pred = [c.shifted(int(rng.integers(-5, 6)), int(rng.integers(-5, 6))) for c in truth]
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        got = score_image("f.png", truth, pred, (1024, 1024))
        best = min(best, time.perf_counter() - start)
    assert got.summary["truth_cells"] == got.summary["pred_cells"] == 50 and got.summary["good_cells"] > 40
    assert best < 0.5  # about 10 ms on one core; a full-image array per pair would take seconds
