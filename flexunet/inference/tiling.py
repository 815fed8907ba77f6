"""Tiled prediction for images larger than the model: tile steps, blend weights, stitching."""

from typing import Callable

import cv2
import numpy as np


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering [0, length) with tiles of `tile` overlapping by at least `overlap`.

    The stride is tile - overlap; the last tile is aligned with the end. A length of at most one
    tile gives [0] (the image is padded up to a tile).
    """
    if tile <= 0 or not 0 <= overlap < tile:
        raise ValueError(f"expected 0 <= overlap < tile, got overlap {overlap} and tile {tile}")
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def ramp(tile: int, overlap: int) -> np.ndarray:
    """1-D weights: rising linearly over the first `overlap` pixels, falling over the last ones."""
    w = np.ones(tile, np.float32)
    if overlap > 0:
        edge = np.arange(1, overlap + 1, dtype=np.float32) / (overlap + 1)
        w[:overlap] = edge
        w[-overlap:] = np.minimum(w[-overlap:], edge[::-1])
    return w


def blend_window(tile: int, overlap: int) -> np.ndarray:
    """2-D weights (tile, tile): outer product of ramps, so overlapping tiles cross-fade."""
    r = ramp(tile, overlap)
    return np.outer(r, r)


def predict_tiled(image: np.ndarray, predict: Callable[[np.ndarray], np.ndarray], tile: int,
                  overlap: int = 0, batch_size: int = 16) -> np.ndarray:
    """Probabilities (H, W) for an image of any size from a predict callable on (N, tile, tile, C).

    Images smaller than a tile are padded by replicating their border; overlapping tile
    predictions are blended with blend_window weights.
    """
    if image.ndim == 2:
        image = image[:, :, None]
    h, w = image.shape[:2]
    ph, pw = max(h, tile), max(w, tile)
    padded = cv2.copyMakeBorder(image, 0, ph - h, 0, pw - w, cv2.BORDER_REPLICATE)
    if padded.ndim == 2:
        padded = padded[:, :, None]
    boxes = [(y, x) for y in tile_starts(ph, tile, overlap) for x in tile_starts(pw, tile, overlap)]
    window = blend_window(tile, overlap)
    total = np.zeros((ph, pw), np.float32)
    weight = np.zeros((ph, pw), np.float32)
    for start in range(0, len(boxes), batch_size):
        chunk = boxes[start:start + batch_size]
        tiles = np.stack([padded[y:y + tile, x:x + tile] for y, x in chunk]).astype(np.float32)
        probs = np.asarray(predict(tiles), np.float32)
        probs = probs[..., 0] if probs.ndim == 4 else probs
        for (y, x), p in zip(chunk, probs):
            total[y:y + tile, x:x + tile] += p * window
            weight[y:y + tile, x:x + tile] += window
    return (total / np.maximum(weight, 1e-8))[:h, :w]
