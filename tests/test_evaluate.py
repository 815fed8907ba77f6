"""Scores of the evaluator: per-image rows, pooled and mean summaries, the interval over source cells."""

import numpy as np
import pytest

from flexunet.evaluate import cell_bootstrap_ci, image_scores, summarize


def row(cell: str, tp: int, fp: int, fn: int, name: str = "") -> dict:
    """A per-image row with just the fields the summaries read."""
    dice = 1.0 if 2 * tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
    iou = 1.0 if tp + fp + fn == 0 else tp / (tp + fp + fn)
    return {"file": name or f"{cell}.bmp", "source_cell": cell, "tp": tp, "fp": fp, "fn": fn,
            "dice": dice, "iou": iou}


@pytest.mark.parametrize("truth, pred, dice, precision, recall", [
    ([1, 1, 0, 0], [1, 0, 0, 0], 2 / 3, 1.0, 0.5),
    ([0, 0, 0, 0], [0, 0, 0, 0], 1.0, 1.0, 1.0),   # both empty: perfect by convention
    ([0, 0, 0, 0], [1, 0, 0, 0], 0.0, 0.0, 0.0),   # nothing to find, one false alarm: all 0
    ([1, 0, 0, 0], [0, 0, 0, 0], 0.0, 0.0, 0.0),   # nothing predicted, one miss: all 0
])
def test_image_scores_and_the_empty_mask_convention(truth, pred, dice, precision, recall):
    got = image_scores("rotated_90_153958943-153958982-001.BMP", np.array(truth, bool), np.array(pred, bool))
    assert got["source_cell"] == "153958943-153958982-001"
    assert (got["dice"], got["precision"], got["recall"]) == (pytest.approx(dice), precision, recall)
    assert (got["true_pixels"], got["pred_pixels"]) == (sum(truth), sum(pred))


def test_summary_pools_pixels_and_averages_images():
    rows = [row("a", 8, 2, 0, "a1"), row("a", 0, 0, 0, "a2"), row("b", 1, 0, 3, "b1")]
    s = summarize(rows)
    # pooled: tp 9, fp 2, fn 3 -> Dice 18/23, IoU 9/14; per image: 16/18, 1 (both empty), 2/5
    assert (s["images"], s["source_cells"]) == (3, 2)
    assert s["pixel_dice"] == pytest.approx(18 / 23) and s["pixel_iou"] == pytest.approx(9 / 14)
    assert s["pixel_precision"] == pytest.approx(9 / 11) and s["pixel_recall"] == pytest.approx(9 / 12)
    assert s["mean_dice"] == pytest.approx((16 / 18 + 1 + 2 / 5) / 3)


@pytest.mark.parametrize("rows, expected", [
    ([row("a", 8, 2, 0)], (16 / 18, 16 / 18)),                               # one cell: no spread
    ([row("a", 8, 2, 0), row("b", 8, 0, 2)], (16 / 18, 16 / 18)),            # equal Dice either way
    # cells A (16/18) and B (1): a sample is AA, AB, BA or BB, each a quarter of the time, so the
    # 2.5th percentile is Dice(AA) = 16/18 and the 97.5th is Dice(BB) = 1
    ([row("a", 8, 2, 0), row("b", 10, 0, 0)], (16 / 18, 1.0)),
    # a cell's copies move together: images a1 and a2 count as one cell with tp 10, fp 2 (20/22);
    # resampling images instead would give a1 a1 a1 (16/18) more than 2.5 % of the time
    ([row("a", 8, 2, 0, "a1"), row("a", 2, 0, 0, "a2"), row("b", 10, 0, 0)], (20 / 22, 1.0)),
    ([], (float("nan"), float("nan"))),
])
def test_cell_bootstrap_interval(rows, expected):
    np.testing.assert_allclose(cell_bootstrap_ci(rows), expected)


def test_cell_bootstrap_interval_brackets_the_pooled_dice_and_is_reproducible():
    rng = np.random.default_rng(3)
    rows = [row(f"c{k}", int(t), int(f), int(n)) for k, (t, f, n) in
            enumerate(rng.integers(1, 100, (30, 3)))]
    low, high = cell_bootstrap_ci(rows)
    assert low < summarize(rows)["pixel_dice"] < high
    assert cell_bootstrap_ci(rows) == (low, high)
    narrow = cell_bootstrap_ci(rows, level=0.5)
    assert low < narrow[0] < narrow[1] < high
