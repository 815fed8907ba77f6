"""Model selection after training: the mask threshold with the best validation Dice of the written masks."""

from typing import Sequence

import numpy as np

from flexunet.data.dataset import PairSource, SegmentationBatches
from flexunet.evaluation.scores import THRESHOLDS, best_threshold_from_counts, threshold_counts
from flexunet.inference.predict import PredictFn


def validation_counts(predict: PredictFn, source: PairSource, mask_threshold: int, batch_size: int,
                      keep_largest: bool = False, holes: bool = False,
                      candidates: Sequence[float] = THRESHOLDS) -> np.ndarray:
    """(TP, FP, FN) per candidate threshold of predict() on `source` (targets > mask_threshold of 255),
    with each mask cleaned up as evaluation and inference write it: an array (len(candidates), 3)."""
    counts = np.zeros((len(candidates), 3), np.int64)
    for x, y in SegmentationBatches(source, batch_size):
        truth = np.rint(y[..., 0] * 255) > mask_threshold
        probs = np.asarray(predict(x))[..., 0]
        counts += threshold_counts(probs, truth, candidates, keep_largest, holes)
    return counts


def choose_threshold(pairs: Sequence[tuple[PredictFn, PairSource]], mask_threshold: int, batch_size: int,
                     keep_largest: bool = False, holes: bool = False) -> tuple[float, float | None]:
    """(threshold, validation pixel Dice) with the best Dice over every (predict, its validation cells)
    pair pooled; (0.5, None) when there is nothing to validate on."""
    if not any(len(source) for _, source in pairs):
        return 0.5, None
    counts = sum(validation_counts(predict, source, mask_threshold, batch_size, keep_largest, holes)
                 for predict, source in pairs)
    return best_threshold_from_counts(counts)
