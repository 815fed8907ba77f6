"""Model selection after training: the threshold and the clean-up whose masks score best on validation."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flexunet.data.dataset import PairSource, SegmentationBatches
from flexunet.evaluation.scores import THRESHOLDS, best_threshold_from_counts, class_confusions, threshold_counts
from flexunet.inference.postprocess import MaskRule, to_labels
from flexunet.inference.predict import PredictFn

CLEANUPS = ((False, False), (False, True), (True, False), (True, True))  # (keep_largest, fill_holes), simplest first
COSTS_MORE_THAN_A_LITTLE = 0.005


@dataclass(frozen=True)
class Selection:
    """The chosen rule, its validation pixel Dice, and every clean-up's best threshold and Dice."""

    rule: MaskRule
    dice: float | None
    options: tuple[tuple[MaskRule, float], ...] = ()

    def best_of_all(self) -> tuple[MaskRule, float] | None:
        """The best option whatever the settings allowed (first of equals: the simplest)."""
        return max(self.options, key=lambda o: o[1]) if self.options else None


def allowed(setting: bool | str) -> tuple[bool, ...]:
    """The values a clean-up setting leaves to choose from: both for "auto", else the one set."""
    return (False, True) if setting == "auto" else (bool(setting),)


def label_counts(probs: np.ndarray, truth: np.ndarray, largest: bool, holes: bool) -> np.ndarray:
    """(TP, FP, FN) summed over the foreground classes of argmax labels (to_labels with the clean-up) of
    probabilities (N, H, W, C) against class labels (N, H, W)."""
    counts = np.zeros(3, np.int64)
    for p, t in zip(probs, truth):
        counts += class_confusions(t, to_labels(p, largest, holes), probs.shape[-1]).sum(axis=0)
    return counts


def validation_counts(predict: PredictFn, source: PairSource, mask_threshold: int, batch_size: int,
                      cleanups: Sequence[tuple[bool, bool]] = ((False, False),),
                      candidates: Sequence[float] = THRESHOLDS) -> np.ndarray:
    """(TP, FP, FN) per clean-up and candidate threshold of predict() on `source` (targets > mask_threshold
    of 255), each mask cleaned up as evaluation and inference write it: (len(cleanups), len(candidates), 3).
    With several classes (one-hot targets) there is no threshold: the argmax's counts over the foreground
    classes fill every candidate alike."""
    counts = np.zeros((len(cleanups), len(candidates), 3), np.int64)
    for x, y in SegmentationBatches(source, batch_size):
        probs = np.asarray(predict(x))
        for k, (largest, holes) in enumerate(cleanups):
            if y.shape[-1] > 1:
                counts[k] += label_counts(probs, np.argmax(y, axis=-1), largest, holes)
            else:
                counts[k] += threshold_counts(probs[..., 0], np.rint(y[..., 0] * 255) > mask_threshold,
                                              candidates, largest, holes)
    return counts


def choose_rule(pairs: Sequence[tuple[PredictFn, PairSource]], mask_threshold: int, batch_size: int,
                keep_largest: bool | str = False, fill_holes: bool | str = False) -> Selection:
    """The threshold and clean-up with the best pixel Dice over every (predict, its validation cells) pair
    pooled, among those the settings allow ("auto" allows both values). Every clean-up is scored, so a
    setting that costs Dice can be told. Ties go to the simpler clean-up, then to the threshold nearest
    0.5. Without validation images: MaskRule(0.5) with what the settings fix ("auto" = off), Dice None."""
    if not any(len(source) for _, source in pairs):
        return Selection(MaskRule(0.5, allowed(keep_largest)[0], allowed(fill_holes)[0]), None)
    counts = sum(validation_counts(predict, source, mask_threshold, batch_size, CLEANUPS) for predict, source in pairs)
    options = []
    for (largest, holes), per_threshold in zip(CLEANUPS, counts):
        threshold, dice = best_threshold_from_counts(per_threshold)
        options.append((MaskRule(threshold, largest, holes), dice))
    permitted = [o for o in options if o[0].keep_largest in allowed(keep_largest)
                 and o[0].fill_holes in allowed(fill_holes)]
    rule, dice = max(permitted, key=lambda o: o[1])
    return Selection(rule, dice, tuple(options))
