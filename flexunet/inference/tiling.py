"""Tiled prediction for images larger than the model: tile steps, blend weights, stitching."""

from collections.abc import Callable, Iterable, Iterator

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


def pad_to_tile(image: np.ndarray, tile: int) -> np.ndarray:
    """(H', W', C): an image (H, W[, C]) padded at the bottom and right, by replicating its border, to at
    least one tile a side."""
    if image.ndim == 2:
        image = image[:, :, None]
    h, w = image.shape[:2]
    padded = cv2.copyMakeBorder(image, 0, max(h, tile) - h, 0, max(w, tile) - w, cv2.BORDER_REPLICATE)
    return padded[:, :, None] if padded.ndim == 2 else padded


def tile_boxes(shape: tuple[int, int], tile: int, overlap: int) -> list[tuple[int, int]]:
    """(y, x) of every tile of an image of `shape` (H, W) once padded to at least a tile a side."""
    h, w = max(shape[0], tile), max(shape[1], tile)
    return [(y, x) for y in tile_starts(h, tile, overlap) for x in tile_starts(w, tile, overlap)]


class _Blend:
    """One image's blended sum of tile predictions and their weights."""

    def __init__(self, image: np.ndarray, tile: int, overlap: int):
        self.size = image.shape[:2]
        self.padded = pad_to_tile(image, tile)
        self.boxes = tile_boxes(self.size, tile, overlap)
        self.total: np.ndarray | None = None
        self.weight = np.zeros(self.padded.shape[:2], np.float32)
        self.left = len(self.boxes)

    def add(self, box: tuple[int, int], probs: np.ndarray, window: np.ndarray) -> None:
        """probs (tile, tile) or (tile, tile, C) of the tile at `box`."""
        if self.total is None:
            self.total = np.zeros(self.padded.shape[:2] + probs.shape[2:], np.float32)
        y, x = box
        th, tw = window.shape
        weighted = np.multiply(probs, window if probs.ndim == 2 else window[:, :, None], dtype=np.float32)
        self.total[y:y + th, x:x + tw] += weighted
        self.weight[y:y + th, x:x + tw] += window
        self.left -= 1

    def result(self) -> np.ndarray:
        """The weighted mean of the tiles' predictions, cropped to the image (computed in place)."""
        h, w = self.size
        total, weight = self.total[:h, :w], self.weight[:h, :w]
        np.maximum(weight, 1e-8, out=weight)
        np.reciprocal(weight, out=weight)
        total *= weight if total.ndim == 2 else weight[:, :, None]
        return total


def predict_tiled_many(images: Iterable[np.ndarray], predict: Callable[[np.ndarray], np.ndarray], tile: int,
                       overlap: int = 0, batch_size: int = 32) -> Iterator[np.ndarray]:
    """Probabilities (H, W) (or (H, W, C) for several classes) of each image of any size, in order, from a
    predict callable on (N, tile, tile, channels).

    Tiles of consecutive images share predict calls of `batch_size` tiles (few small images then
    cost few calls); images smaller than a tile are padded by replicating their border; overlapping
    tile predictions are blended with blend_window weights.
    """
    window = blend_window(tile, overlap)
    pending: list[_Blend] = []
    queue: list[tuple[_Blend, tuple[int, int]]] = []

    def flush(count: int) -> Iterator[np.ndarray]:
        chunk, queue[:] = queue[:count], queue[count:]
        if chunk:
            tiles = np.stack([b.padded[y:y + tile, x:x + tile] for b, (y, x) in chunk]).astype(np.float32)
            probs = np.asarray(predict(tiles), np.float32)
            for (blend, box), p in zip(chunk, probs[..., 0] if probs.ndim == 4 and probs.shape[-1] == 1 else probs):
                blend.add(box, p, window)
        while pending and pending[0].left == 0:
            yield pending.pop(0).result()

    for image in images:
        blend = _Blend(image, tile, overlap)
        pending.append(blend)
        queue.extend((blend, box) for box in blend.boxes)
        while len(queue) >= batch_size:
            yield from flush(batch_size)
    while queue or pending:
        yield from flush(batch_size)


def predict_tiled(image: np.ndarray, predict: Callable[[np.ndarray], np.ndarray], tile: int,
                  overlap: int = 0, batch_size: int = 32) -> np.ndarray:
    """Probabilities (H, W) of one image of any size (predict_tiled_many of that image)."""
    return next(predict_tiled_many([image], predict, tile, overlap, batch_size))
