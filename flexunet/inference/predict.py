"""Predict callables shared by training, evaluation and inference: batching, flip TTA, the batch size."""

from collections.abc import Callable

import keras
import numpy as np

from flexunet.config.sections import PostprocessSection

PredictFn = Callable[[np.ndarray], np.ndarray]
PREDICT_PIXELS = 64 * 128 * 128  # about a million pixels per predict call: measured best, bench/results/infer.json


def predict_batch_size(configured: int | None = None, size: tuple[int, int] = (128, 128)) -> int:
    """Images per prediction call (the one policy for threshold selection, evaluation, inference and tiled
    inference): the configured batch size, else as many model inputs of `size` as PREDICT_PIXELS holds
    (64 at 128 x 128, 4 at 512 x 512)."""
    return configured or max(1, PREDICT_PIXELS // (size[0] * size[1]))


def squeeze_binary(probs: np.ndarray) -> np.ndarray:
    """Probabilities without their channel axis when there is one channel (a sigmoid head)."""
    return probs[..., 0] if probs.ndim >= 3 and probs.shape[-1] == 1 else probs


def batched(predict: PredictFn, images: np.ndarray, batch_size: int) -> np.ndarray:
    """predict() over images in batches, concatenated; probabilities (N, H, W), or (N, H, W, C) for C > 1."""
    out = [squeeze_binary(np.asarray(predict(images[start:start + batch_size])))
           for start in range(0, len(images), batch_size)]
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
