"""Scores of the evaluator: per-image rows, pooled and mean summaries with their interval."""

import numpy as np
import pytest

from flexunet.evaluation.scores import image_scores, summarize


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
    assert s["pixel_dice_ci95_low"] <= s["pixel_dice"] <= s["pixel_dice_ci95_high"]


@pytest.mark.parametrize("cells, expected", [
    (1, "0.9000 (one source cell: no interval)"),
    (2, "0.9000 (0.8500 to 0.9500)"),
])
def test_a_dice_line_gives_an_interval_only_over_two_or_more_cells(cells, expected):
    from flexunet.evaluation.run import _dice

    scores = {"source_cells": cells, "pixel_dice": 0.9, "pixel_dice_ci95_low": 0.85, "pixel_dice_ci95_high": 0.95}
    assert _dice(scores) == expected
