"""Turn image-mask pairs into model-sized arrays and shuffled batches, in memory or streamed."""

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import keras
import numpy as np
from tqdm import tqdm

from flexunet.data.cells import border_width, pack_targets, sample_cells, unpack_targets
from flexunet.data.io import read_image, read_mask
from flexunet.data.labels import read_labels
from flexunet.data.pairs import Pair

IN_MEMORY_LIMIT = 1 << 30


@dataclass(frozen=True)
class MaskOptions:
    """How a mask file becomes a target: binary (num_classes 1: binarize, threshold, blur), class labels, or
    (head "cells") the cells head's packed channels."""

    binarize: bool = True
    threshold: int = 128
    blur: bool = False
    blur_size: tuple[int, int] = (3, 3)
    num_classes: int = 1
    head: str = "classes"


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (H, W[, C]) uint8 to size = (height, width) with bilinear interpolation."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    out = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    return out[:, :, None] if image.ndim == 3 and out.ndim == 2 else out


def prepare_mask(mask: np.ndarray, size: tuple[int, int], opts: MaskOptions) -> np.ndarray:
    """A model-sized uint8 mask, 255 = nucleus (0..255 soft when neither binarize nor blur); with
    num_classes > 1 the class indices, resized by nearest neighbour.

    binarize: pixel > threshold is nucleus. blur (the seed's load): after binarizing, a
    blur_size box blur, then any non-zero pixel is nucleus, which grows masks by about a pixel.
    A mask holding only 0 and 1 is read as 0/255 labels; a 3-class label mask (0, 128 and 255) as its
    nucleus, also without binarize (its 128 is cytoplasm, not a grey edge to learn from).
    """
    if opts.num_classes > 1 or opts.head == "cells":
        h, w = size
        return mask if mask.shape[:2] == (h, w) else cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    if is_label_mask(mask):
        mask = np.where(mask == 255, 255, 0).astype(np.uint8)
    mask = resize_image(mask, size)
    if mask.max(initial=0) == 1:
        mask = mask * np.uint8(255)
    if opts.binarize:
        mask = np.where(mask > opts.threshold, 255, 0).astype(np.uint8)
    if opts.blur:
        mask = cv2.blur(mask, tuple(opts.blur_size))
        mask = np.where(mask > 0, 255, 0).astype(np.uint8)
    return mask


def is_label_mask(mask: np.ndarray) -> bool:
    """Whether a mask is a 3-class label mask in grey coding: only 0, 128 and 255, with 128 among them."""
    counts = np.bincount(mask.ravel(), minlength=256) if mask.dtype == np.uint8 else None
    return counts is not None and counts[128] > 0 and counts.sum() == counts[0] + counts[128] + counts[255]


def load_pair(pair: Pair, size: tuple[int, int], channels: int,
              opts: MaskOptions) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 (H, W, C), mask uint8 (H, W)) for one pair, model-sized; for the cells head the mask
    holds the packed target channels (flexunet.data.cells)."""
    raw = read_image(pair.image, channels)
    image = resize_image(raw, size)
    if image.ndim == 2:
        image = image[:, :, None]
    shape = raw.shape[:2]
    if opts.head == "cells":
        labels = read_labels(pair.mask, 3, shape)
        packed = pack_targets(labels, sample_cells(pair, labels), border_width(shape, size))
        return image, prepare_mask(packed, size, opts)
    mask = read_labels(pair.mask, opts.num_classes, shape) if opts.num_classes > 1 else read_mask(pair.mask, shape)
    return image, prepare_mask(mask, size, opts)


class PairSource:
    """Samples read from disk on demand (streaming), or held in memory after `cache()`."""

    def __init__(self, pairs: list[Pair], size: tuple[int, int], channels: int, opts: MaskOptions):
        self.pairs = list(pairs)
        self.size = tuple(size)
        self.channels = channels
        self.opts = opts
        self.images: np.ndarray | None = None
        self.masks: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def nbytes(self) -> int:
        h, w = self.size
        return len(self.pairs) * h * w * (self.channels + 1)

    def subset(self, indices) -> "PairSource":
        sub = PairSource([self.pairs[i] for i in indices], self.size, self.channels, self.opts)
        if self.images is not None:
            sub.images, sub.masks = self.images[indices], self.masks[indices]
        return sub

    def load(self, i: int):
        if self.images is not None:
            return self.images[i], self.masks[i]
        return load_pair(self.pairs[i], self.size, self.channels, self.opts)

    def cache(self, desc: str = "Loading", progress: bool = True, workers: int = 4) -> "PairSource":
        """Read every pair once into memory, with a progress bar."""
        if self.images is not None:
            return self
        h, w = self.size
        images = np.empty((len(self), h, w, self.channels), np.uint8)
        masks = np.empty((len(self), h, w), np.uint8)

        def work(i):
            images[i], masks[i] = load_pair(self.pairs[i], self.size, self.channels, self.opts)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for _ in tqdm(pool.map(work, range(len(self))), total=len(self), desc=desc,
                          unit="img", disable=not progress, leave=False):
                pass
        self.images, self.masks = images, masks
        return self


def should_cache(sources: list[PairSource], in_memory: bool | None) -> bool:
    """Hold these sources in memory: as configured, or (None) when together they fit IN_MEMORY_LIMIT."""
    return in_memory if in_memory is not None else sum(s.nbytes for s in sources) <= IN_MEMORY_LIMIT


MASK_SCALE = np.arange(256, dtype=np.float32) / 255.0


def to_batch(images: Sequence[np.ndarray], masks: Sequence[np.ndarray],
             num_classes: int = 1, head: str = "classes") -> tuple[np.ndarray, np.ndarray]:
    """uint8 images 0..255 (B, H, W, C) (the model rescales them) and float32 targets: masks 0..1
    (B, H, W, 1), with num_classes > 1 the one-hot class labels (B, H, W, num_classes), or for the cells
    head its unpacked channels (B, H, W, 4)."""
    if head == "cells":
        return np.stack(images), unpack_targets(np.stack(masks))
    if num_classes > 1:
        return np.stack(images), np.eye(num_classes, dtype=np.float32)[np.stack(masks)]
    return np.stack(images), MASK_SCALE[np.stack(masks)][..., None]


class SegmentationBatches(keras.utils.PyDataset):
    """Batches of (image, mask); reshuffled each epoch from (seed, epoch), optionally augmented."""

    def __init__(self, source: PairSource, batch_size: int, shuffle: bool = False, seed: int = 0,
                 augment=None, workers: int = 1, start_epoch: int = 0, steps: int | None = None):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.source = source
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.augment = augment
        self.epoch = start_epoch
        self.steps = steps
        self.order = self._order()

    def _order(self) -> np.ndarray:
        order = np.arange(len(self.source))
        if self.shuffle:
            np.random.default_rng([self.seed, self.epoch]).shuffle(order)
        return order

    def __len__(self) -> int:
        full = math.ceil(len(self.source) / self.batch_size)
        return min(full, self.steps) if self.steps else full

    def __getitem__(self, index: int):
        picks = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        if self.augment is None and self.source.images is not None:
            return to_batch(self.source.images[picks], self.source.masks[picks], *self._layout)
        images, masks = [], []
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        for i in picks:
            image, mask = self.source.load(int(i))
            if self.augment is not None:
                image, mask = self.augment(image, mask, rng)
            images.append(image)
            masks.append(mask)
        return to_batch(images, masks, *self._layout)

    @property
    def _layout(self) -> tuple[int, str]:
        return self.source.opts.num_classes, self.source.opts.head

    def on_epoch_end(self):
        self.epoch += 1
        self.order = self._order()
