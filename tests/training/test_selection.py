"""Post-processing chosen on validation with the threshold: every clean-up scored, "auto" picks, a set value wins."""

import numpy as np
import pytest

from flexunet.data.dataset import MaskOptions, PairSource
from flexunet.inference.postprocess import MaskRule, mask_rule
from flexunet.model.record import ModelRecord
from flexunet.training.selection import CLEANUPS, allowed, choose_rule, validation_counts


def source_of(masks: np.ndarray) -> PairSource:
    """An in-memory PairSource of blank images and these 0/255 masks."""
    source = PairSource([None] * len(masks), masks.shape[1:3], 1, MaskOptions())
    source.images = np.zeros((*masks.shape, 1), np.uint8)
    source.masks = masks.astype(np.uint8)
    return source


def fixed(probs: np.ndarray):
    """A predictor that returns `probs` (N, H, W) for the N images it is given, in order."""
    state = {"next": 0}

    def predict(images):
        start = state["next"]
        state["next"] += len(images)
        return probs[start:start + len(images), :, :, None]
    return predict


def field(nuclei: list[tuple[int, int]], size: int = 12) -> np.ndarray:
    """A 0/255 mask with 2x2 nuclei at these top-left corners."""
    mask = np.zeros((size, size), np.uint8)
    for y, x in nuclei:
        mask[y:y + 2, x:x + 2] = 255
    return mask


def test_several_objects_per_image_keep_largest_loses_and_auto_does_not_take_it():
    """Three 2x2 nuclei predicted perfectly (p = 0.9): no clean-up scores Dice 1; keeping the largest of
    three equal components keeps one, TP 4 of 12: Dice 8/16 = 0.5 at every threshold."""
    masks = np.stack([field([(1, 1), (5, 6), (9, 2)])])
    probs = np.where(masks > 0, 0.9, 0.05).astype(np.float32)
    chosen = choose_rule([(fixed(probs), source_of(masks))], 128, 8, "auto", "auto")
    assert chosen.rule == MaskRule(0.5, False, False) and chosen.dice == 1.0
    dice = {(o.keep_largest, o.fill_holes): d for o, d in chosen.options}
    assert dice == {(False, False): 1.0, (False, True): 1.0, (True, False): 0.5, (True, True): 0.5}


def test_one_cell_per_image_with_a_speck_and_a_hole_auto_takes_both_clean_ups():
    """A 4x4 nucleus with a pixel inside predicted 0.02 (a hole at every threshold) and a far speck at 0.8.
    none: TP 15, FP 1, FN 1 -> 30/32; keep largest: FN 1 -> 30/31; fill holes: FP 1 -> 32/33;
    both: Dice 1 (each at 0.5: every threshold up to 0.75 ties, and ties go to the one nearest 0.5)."""
    truth = np.zeros((1, 10, 10), np.uint8)
    truth[0, 1:5, 1:5] = 255
    probs = np.where(truth > 0, 0.8, 0.0).astype(np.float32)
    probs[0, 2, 2] = 0.02
    probs[0, 8, 8] = 0.8
    chosen = choose_rule([(fixed(probs), source_of(truth))], 128, 4, "auto", "auto")
    dice = {(o.keep_largest, o.fill_holes): d for o, d in chosen.options}
    assert dice == pytest.approx({(False, False): 30 / 32, (True, False): 30 / 31, (False, True): 32 / 33,
                                  (True, True): 1.0})
    assert chosen.rule == MaskRule(0.5, True, True)


@pytest.mark.parametrize("keep_largest, fill_holes, expected", [
    (False, "auto", MaskRule(0.5, False, True)),
    (True, False, MaskRule(0.5, True, False)),
    ("auto", False, MaskRule(0.5, True, False)),
])
def test_a_set_value_wins_over_validation(keep_largest, fill_holes, expected):
    truth = np.zeros((1, 10, 10), np.uint8)
    truth[0, 1:5, 1:5] = 255
    probs = np.where(truth > 0, 0.8, 0.0).astype(np.float32)
    probs[0, 2, 2] = 0.02
    probs[0, 8, 8] = 0.8
    chosen = choose_rule([(fixed(probs), source_of(truth))], 128, 4, keep_largest, fill_holes)
    assert chosen.rule == expected
    assert chosen.best_of_all()[0] == MaskRule(0.5, True, True)


def test_without_validation_images_auto_is_off_and_the_threshold_half():
    chosen = choose_rule([], 128, 4, "auto", True)
    assert chosen.rule == MaskRule(0.5, False, True) and chosen.dice is None and chosen.options == ()


def test_counts_pool_over_pairs_and_batches():
    masks = np.stack([field([(1, 1)]), field([(5, 5), (8, 8)])])
    probs = np.where(masks > 0, 0.9, 0.0).astype(np.float32)
    one = validation_counts(fixed(probs), source_of(masks), 128, 1, CLEANUPS, [0.5])
    assert one.shape == (4, 1, 3)
    np.testing.assert_array_equal(one[:, 0], [[12, 0, 0], [12, 0, 0], [8, 0, 4], [8, 0, 4]])


@pytest.mark.parametrize("setting, values", [("auto", (False, True)), (True, (True,)), (False, (False,))])
def test_allowed(setting, values):
    assert allowed(setting) == values


@pytest.mark.parametrize("text, keep, holes, expected", [
    ('{"threshold": 0.6, "keep_largest": true, "fill_holes": false}', "auto", "auto", MaskRule(0.6, True, False)),
    ('{"threshold": 0.6, "keep_largest": true, "fill_holes": false}', False, True, MaskRule(0.6, False, True)),
    ('{"threshold": 0.45}', "auto", "auto", MaskRule(0.45, False, False)),   # a model trained before the choice
    ("{}", True, "auto", MaskRule(0.5, True, False)),
])
def test_the_rule_of_a_trained_model(text, keep, holes, expected):
    assert mask_rule(ModelRecord.from_json(text), keep, holes) == expected


def test_several_classes_are_scored_on_their_argmax_labels_without_a_threshold():
    """One 1x6 image: truth [bg, cyto, cyto, nuc, nuc, bg]; the prediction gets one cytoplasm pixel wrong
    (nucleus instead): cytoplasm TP 1 FN 1, nucleus TP 2 FP 1 -> summed TP 3, FP 1, FN 1: Dice 6/8. Every
    threshold candidate gets the same counts, so the threshold stays 0.5."""
    truth = np.array([[[0, 1, 1, 2, 2, 0]]], np.uint8)
    source = PairSource([None], (1, 6), 1, MaskOptions(num_classes=3))
    source.images, source.masks = np.zeros((1, 1, 6, 1), np.uint8), truth
    probs = np.eye(3, dtype=np.float32)[np.array([[[0, 1, 2, 2, 2, 0]]])] * 0.8 + 0.2 / 3
    chosen = choose_rule([(lambda images: probs[:len(images)], source)], 128, 4, False, False)
    assert chosen.rule == MaskRule(0.5, False, False) and chosen.dice == pytest.approx(6 / 8)
