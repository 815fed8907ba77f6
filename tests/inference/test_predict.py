"""Prediction helpers: post-processing, pixel counts, threshold choice, flip TTA, batching."""

import numpy as np
import pytest

from flexunet.evaluation.scores import best_threshold, confusion, dice_from_counts, iou_from_counts, threshold_counts
from flexunet.inference.postprocess import fill_holes, keep_largest_component, to_mask
from flexunet.inference.predict import batched, postprocess_predictor, with_flip_tta


def grid(rows: list[str]) -> np.ndarray:
    """A 0/255 mask from strings: '#' is nucleus."""
    return np.array([[255 if c == "#" else 0 for c in r] for r in rows], np.uint8)


@pytest.mark.parametrize("mask, expected", [
    (grid(["##....", "##....", "......", "...###", "...###", "...###"]),
     grid(["......", "......", "......", "...###", "...###", "...###"])),
    # diagonal neighbours are connected (8-connectivity): one component of 5 beats one of 4
    (grid(["#.....", ".#....", "..#...", "...#..", "....#.", "##...."]),
     grid(["#.....", ".#....", "..#...", "...#..", "....#.", "......"])),
    (grid(["......", ".##...", ".##...", "......"]), grid(["......", ".##...", ".##...", "......"])),
    (grid(["....", "...."]), grid(["....", "...."])),
])
def test_keep_largest_component(mask, expected):
    np.testing.assert_array_equal(keep_largest_component(mask), expected)


@pytest.mark.parametrize("mask, expected", [
    (grid([".....", ".###.", ".#.#.", ".###.", "....."]),
     grid([".....", ".###.", ".###.", ".###.", "....."])),
    # a 2x2 hole inside a ring
    (grid(["######", "#....#", "#....#", "######"]), grid(["######", "######", "######", "######"])),
    # a bay open to the border is not a hole
    (grid(["#.##", "#..#", "####"]), grid(["#.##", "#..#", "####"])),
    # background touching the image border is outside even when enclosed on three sides
    (grid(["###", "#.#", "#.."]), grid(["###", "#.#", "#.."])),
    (grid(["...", "..."]), grid(["...", "..."])),
])
def test_fill_holes(mask, expected):
    np.testing.assert_array_equal(fill_holes(mask), expected)


def test_to_mask_threshold_is_strict_and_postprocessing_applies():
    probs = np.array([[0.2, 0.5, 0.51], [0.9, 0.0, 0.49]], np.float32)
    np.testing.assert_array_equal(to_mask(probs, 0.5), [[0, 0, 255], [255, 0, 0]])
    ring = np.zeros((5, 5), np.float32)
    ring[1:4, 1:4] = 0.9
    ring[2, 2] = 0.1
    ring[0, 4] = 0.9                         # a separate one-pixel speck (diagonal gap of 1 -> touching)
    ring[4, 0] = 0.0
    filled = to_mask(ring, 0.5, holes=True)
    assert filled[2, 2] == 255
    only = to_mask(ring, 0.5, keep_largest=True)
    assert only[2, 2] == 0 and only.dtype == np.uint8


@pytest.mark.parametrize("truth, pred, counts, dice, iou", [
    ([1, 1, 0, 0], [1, 0, 1, 0], (1, 1, 1), 2 / 4, 1 / 3),
    ([1, 1, 1, 0], [1, 1, 1, 0], (3, 0, 0), 1.0, 1.0),
    ([0, 0, 0, 0], [0, 0, 0, 0], (0, 0, 0), 1.0, 1.0),     # both empty: perfect by convention
    ([0, 0, 0, 0], [1, 0, 0, 0], (0, 1, 0), 0.0, 0.0),
    ([1, 1, 1, 1], [0, 0, 0, 0], (0, 0, 4), 0.0, 0.0),
    ([1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 1, 1], (2, 2, 2), 4 / 8, 2 / 6),
])
def test_confusion_dice_iou(truth, pred, counts, dice, iou):
    got = confusion(np.array(truth), np.array(pred))
    assert got == counts
    assert dice_from_counts(*got) == pytest.approx(dice)
    assert iou_from_counts(*got) == pytest.approx(iou)


def test_best_threshold_finds_the_separating_threshold():
    truth = np.array([[1, 1, 0, 0, 0]], bool)
    probs = np.array([[0.9, 0.74, 0.3, 0.57, 0.1]])
    # thresholds 0.57 <= t < 0.74 separate perfectly: 0.6, 0.65, 0.7; ties go to the one nearest 0.5
    assert best_threshold(probs, truth) == (0.6, 1.0)


def test_best_threshold_prefers_half_when_it_is_as_good():
    truth = np.array([1, 0], bool)
    probs = np.array([0.95, 0.02])
    assert best_threshold(probs, truth) == (0.5, 1.0)


def test_best_threshold_with_candidates_and_imperfect_separation():
    truth = np.array([1, 1, 1, 0, 0], bool)
    probs = np.array([0.8, 0.6, 0.3, 0.4, 0.1])
    # t=0.2: tp 3 fp 1 -> 6/7; t=0.35: tp 2 fp 1 fn 1 -> 4/6; t=0.5: tp 2 fn 1 -> 4/5
    thr, dice = best_threshold(probs, truth, candidates=[0.2, 0.35, 0.5])
    assert thr == 0.2 and dice == pytest.approx(6 / 7)


def test_best_threshold_scores_the_cleaned_up_masks():
    truth = np.zeros((1, 5, 5), bool)
    truth[0, :3, :3] = True
    probs = np.zeros((1, 5, 5))
    probs[0, :3, :3] = 0.7
    probs[0, 1, 1] = 0.3   # the nucleus's centre is a hole at 0.5
    probs[0, 4, 4] = 0.28  # a speck away from it, only above 0.25
    # raw masks: t=0.25 tp 9 fp 1 -> 18/19; t=0.5 tp 8 fn 1 -> 16/17, so 0.25 wins
    assert best_threshold(probs, truth, [0.25, 0.5]) == (0.25, pytest.approx(18 / 19))
    # keep the largest component and fill its holes: both give the 3x3 block, and ties go to 0.5
    assert best_threshold(probs, truth, [0.25, 0.5], keep_largest=True, holes=True) == (0.5, 1.0)
    np.testing.assert_array_equal(threshold_counts(probs, truth, [0.25, 0.5], keep_largest=True),
                                  [[9, 0, 0], [8, 0, 1]])


def channel_mean(images: np.ndarray) -> np.ndarray:
    return images.mean(axis=-1, keepdims=True) / 255.0


def test_flip_tta_of_an_equivariant_predictor_equals_the_plain_one():
    images = np.random.default_rng(0).uniform(0, 255, (3, 6, 9, 3)).astype(np.float32)
    np.testing.assert_allclose(with_flip_tta(channel_mean)(images), channel_mean(images), atol=1e-6)


def test_flip_tta_averages_the_four_flips():
    """A predictor that ignores its input and returns x / (W - 1): flipped back and averaged it is
    ((x + (W-1-x)) / 2) / (W - 1) = 0.5 everywhere."""
    def ramp(images):
        n, h, w = images.shape[:3]
        return np.broadcast_to(np.arange(w) / (w - 1), (n, h, w)).astype(np.float32)

    out = with_flip_tta(ramp)(np.zeros((2, 4, 5, 3), np.float32))
    np.testing.assert_allclose(out, 0.5)
    calls = []

    def spy(images):
        calls.append(images.flags["C_CONTIGUOUS"])
        return channel_mean(images)

    with_flip_tta(spy)(np.zeros((1, 4, 4, 3), np.float32))
    assert calls == [True, True, True, True]


def pick_pixel_0_1(images: np.ndarray) -> np.ndarray:
    """Channel 0 at pixel (row 0, column 1), zero elsewhere: equivariant to no flip or rotation."""
    out = np.zeros(images.shape[:3], np.float32)
    out[:, 0, 1] = images[:, 0, 1, 0]
    return out


@pytest.mark.parametrize("transpose, orbit", [
    (False, [(0, 1), (0, 2), (3, 1), (3, 2)]),
    (True, [(0, 1), (0, 2), (3, 1), (3, 2), (1, 0), (2, 0), (1, 3), (2, 3)]),
])
def test_tta_spreads_a_pixel_over_its_orbit(transpose, orbit):
    """Each view maps some pixel onto (0, 1) and back, so a 4x4 image of ones averages to 1/views on
    the orbit of (0, 1): the four flips, or the eight rotations and mirrors."""
    out = with_flip_tta(pick_pixel_0_1, transpose)(np.ones((1, 4, 4, 3), np.float32))[0]
    expected = np.zeros((4, 4), np.float32)
    for r, c in orbit:
        expected[r, c] = 1.0 / len(orbit)
    np.testing.assert_allclose(out, expected, atol=1e-7)


def test_eight_view_tta_of_an_equivariant_predictor_equals_the_plain_one():
    images = np.random.default_rng(3).uniform(0, 255, (2, 5, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(with_flip_tta(channel_mean, True)(images), channel_mean(images), atol=1e-6)


def test_batched_concatenates_and_drops_the_channel_axis():
    images = np.random.default_rng(1).uniform(0, 255, (7, 4, 4, 3)).astype(np.float32)
    sizes = []

    def predict(x):
        sizes.append(len(x))
        return channel_mean(x)

    out = batched(predict, images, 3)
    assert sizes == [3, 3, 1]
    assert out.shape == (7, 4, 4)
    np.testing.assert_allclose(out, channel_mean(images)[..., 0], atol=1e-6)
    assert batched(predict, images[:0], 3).shape == (0, 4, 4)


@pytest.mark.parametrize("tta, rot90, views", [(False, False, 1), (False, True, 1), (True, False, 4), (True, True, 8)])
def test_postprocess_predictor_calls_the_model_once_per_view(tta, rot90, views):
    """tta_rot90 adds views only with tta; turning tta off turns all of them off."""
    from flexunet.config.sections import PostprocessSection

    class Model:
        calls = 0

        def predict_on_batch(self, images):
            Model.calls += 1
            return channel_mean(images)

    images = np.random.default_rng(4).uniform(0, 255, (2, 4, 4, 3)).astype(np.float32)
    out = postprocess_predictor(Model(), PostprocessSection(tta=tta, tta_rot90=rot90))(images)
    assert Model.calls == views
    np.testing.assert_allclose(out, channel_mean(images), atol=1e-6)


def test_the_threshold_compares_in_the_probabilities_precision_everywhere():
    """A float32 probability equal to float32(0.15) is not above the threshold 0.15, whether the threshold is
    a numpy float64 (threshold selection's candidates) or a Python float (the saved rule)."""
    from flexunet.evaluation.scores import THRESHOLDS
    from flexunet.inference.postprocess import MaskRule

    p = np.full((1, 4, 4), np.float32(THRESHOLDS[2]))
    assert threshold_counts(p, np.ones((1, 4, 4), bool), [THRESHOLDS[2]]).tolist() == [[0, 0, 16]]
    assert threshold_counts(p, np.ones((1, 4, 4), bool), [THRESHOLDS[2]], keep_largest=True).tolist() == [[0, 0, 16]]
    assert (MaskRule(float(THRESHOLDS[2])).apply(p[0]) > 127).sum() == 0
