"""Prediction steps shared by evaluation and inference: batching, flip TTA, threshold, post-processing."""

from typing import Callable, Sequence

import cv2
import keras
import numpy as np

from flexunet.config.sections import PostprocessSection

PredictFn = Callable[[np.ndarray], np.ndarray]


def batched(predict: PredictFn, images: np.ndarray, batch_size: int) -> np.ndarray:
    """predict() over images in batches, concatenated; probabilities (N, H, W)."""
    out = []
    for start in range(0, len(images), batch_size):
        probs = np.asarray(predict(images[start:start + batch_size]))
        out.append(probs[..., 0] if probs.ndim == 4 else probs)
    return np.concatenate(out) if out else np.zeros((0,) + images.shape[1:3], np.float32)


def with_flip_tta(predict: PredictFn, transpose: bool = False) -> PredictFn:
    """A predict function averaging the four flips of each image (each flipped back); with transpose
    also the four flips of its transpose, i.e. all eight right-angle rotations and mirrors."""

    def flips(images: np.ndarray) -> np.ndarray:
        total = 0.0
        for flip_h in (False, True):
            for flip_v in (False, True):
                x = images[:, :, ::-1] if flip_h else images
                x = x[:, ::-1] if flip_v else x
                p = np.asarray(predict(np.ascontiguousarray(x)))
                p = p[:, ::-1] if flip_v else p
                total = total + (p[:, :, ::-1] if flip_h else p)
        return total / 4.0

    def tta(images: np.ndarray) -> np.ndarray:
        probs = flips(images)
        if not transpose:
            return probs
        return (probs + flips(images.swapaxes(1, 2)).swapaxes(1, 2)) / 2.0

    return tta


def model_predictor(model: keras.Model, tta: bool = False, rot90: bool = False) -> PredictFn:
    """A predict function over a Keras model (one call per batch, no per-image overhead); tta averages
    the four flips, and rot90 with it the eight right-angle rotations and mirrors."""

    def predict(images: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_on_batch(np.asarray(images, np.float32)))

    return with_flip_tta(predict, rot90) if tta else predict


def postprocess_predictor(model: keras.Model, post: PostprocessSection) -> PredictFn:
    """model_predictor with the [postprocess] tta and tta_rot90 settings."""
    return model_predictor(model, post.tta, post.tta_rot90)


def keep_largest_component(mask: np.ndarray) -> np.ndarray:
    """Only the largest 8-connected foreground component of a 0/255 mask."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 127).astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.where(labels == largest, 255, 0).astype(np.uint8)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not connected to the image border."""
    fg = (mask > 127).astype(np.uint8)
    padded = np.pad(1 - fg, 1, constant_values=1)
    count, labels = cv2.connectedComponents(padded, connectivity=4)
    outside = labels == labels[0, 0]
    holes = ~outside[1:-1, 1:-1] & (fg == 0)
    return np.where((fg == 1) | holes, 255, 0).astype(np.uint8)


def to_mask(probs: np.ndarray, threshold: float, keep_largest: bool = False, holes: bool = False) -> np.ndarray:
    """0/255 uint8 mask from probabilities (H, W) at `threshold`, then optional clean-up."""
    mask = np.where(probs > threshold, 255, 0).astype(np.uint8)
    if keep_largest:
        mask = keep_largest_component(mask)
    if holes:
        mask = fill_holes(mask)
    return mask


def confusion(truth: np.ndarray, pred: np.ndarray) -> tuple[int, int, int]:
    """(TP, FP, FN) pixel counts of boolean masks."""
    t, p = truth.astype(bool), pred.astype(bool)
    return int(np.sum(t & p)), int(np.sum(~t & p)), int(np.sum(t & ~p))


def dice_from_counts(tp: int, fp: int, fn: int) -> float:
    """2TP / (2TP + FP + FN); 1.0 when both masks are empty."""
    denom = 2 * tp + fp + fn
    return 1.0 if denom == 0 else 2.0 * tp / denom


def iou_from_counts(tp: int, fp: int, fn: int) -> float:
    """TP / (TP + FP + FN); 1.0 when both masks are empty."""
    denom = tp + fp + fn
    return 1.0 if denom == 0 else tp / denom


THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def threshold_counts(probs: np.ndarray, truth: np.ndarray, candidates: Sequence[float] = THRESHOLDS,
                     keep_largest: bool = False, holes: bool = False) -> np.ndarray:
    """(TP, FP, FN) pixel counts for each candidate threshold: an array (len(candidates), 3).

    With keep_largest or holes, probs and truth are (N, H, W) and each image's mask is cleaned up as
    to_mask does, so the counts are those of the masks that evaluation and inference write.
    """
    t = truth.astype(bool)
    if not (keep_largest or holes):
        return np.array([confusion(t, probs > thr) for thr in candidates], dtype=np.int64)
    return np.array([np.sum([confusion(ti, to_mask(pi, thr, keep_largest, holes) > 127)
                             for pi, ti in zip(probs, t)], axis=0, dtype=np.int64).reshape(3)
                     for thr in candidates], dtype=np.int64)


def best_threshold_from_counts(counts: np.ndarray, candidates: Sequence[float] = THRESHOLDS) -> tuple[float, float]:
    """(threshold, pixel Dice) maximising aggregate Dice; ties go to the one nearest 0.5."""
    best = (0.5, -1.0)
    for thr, (tp, fp, fn) in zip(candidates, counts):
        dice = dice_from_counts(int(tp), int(fp), int(fn))
        if dice > best[1] + 1e-12 or (abs(dice - best[1]) <= 1e-12 and abs(thr - 0.5) < abs(best[0] - 0.5)):
            best = (float(thr), dice)
    return best


def best_threshold(probs: np.ndarray, truth: np.ndarray, candidates: Sequence[float] = THRESHOLDS,
                   keep_largest: bool = False, holes: bool = False) -> tuple[float, float]:
    """(threshold, pixel Dice) maximising aggregate Dice of the (cleaned-up) masks; ties go to the one
    nearest 0.5."""
    counts = threshold_counts(probs, truth, candidates, keep_largest, holes)
    return best_threshold_from_counts(counts, candidates)
