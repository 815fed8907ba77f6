"""The TensorFlow backend's fast path for a source held in memory: the same batches as SegmentationBatches,
gathered inside a tf.data pipeline instead of handed over from Python one batch at a time (which costs
Keras's PyDataset adapter about 80 ms per step on a 2-core CPU)."""

import keras
import numpy as np

from flexunet.data.cells import BITS
from flexunet.data.dataset import MASK_SCALE, SegmentationBatches


def epoch_batches(batches: SegmentationBatches, epoch: int) -> list[np.ndarray]:
    """The sample indices of each batch SegmentationBatches gives in `epoch` (its order for that epoch)."""
    order = np.arange(len(batches.source))
    if batches.shuffle:
        np.random.default_rng([batches.seed, epoch]).shuffle(order)
    size = batches.batch_size
    return [order[i * size:(i + 1) * size] for i in range(len(batches))]


def in_graph(batches: SegmentationBatches, epochs: int = 1):
    """A tf.data.Dataset giving exactly the batches of `batches` for epochs batches.epoch .. epochs - 1 in a
    row (fit it with steps_per_epoch = len(batches)), or None when the fast path does not apply: another
    backend, a streamed source, or online augmentation (which runs in Python)."""
    source = batches.source
    if keras.backend.backend() != "tensorflow" or source.images is None or batches.augment is not None:
        return None
    import tensorflow as tf

    rows = [b for epoch in range(batches.epoch, max(epochs, batches.epoch + 1)) for b in epoch_batches(batches, epoch)]
    picks = tf.RaggedTensor.from_row_lengths(np.concatenate(rows).astype(np.int64), [len(r) for r in rows])
    images, masks = tf.constant(source.images), tf.constant(source.masks)
    classes, cells = source.opts.num_classes, source.opts.head == "cells"
    scale = tf.constant(MASK_SCALE)
    bits = tf.constant(BITS, tf.uint8)

    def gather(indices):
        labels = tf.gather(masks, indices)
        if cells:
            target = tf.cast(tf.bitwise.bitwise_and(labels[..., None], bits) > 0, tf.float32)
        elif classes > 1:
            target = tf.one_hot(tf.cast(labels, tf.int32), classes, dtype=tf.float32)
        else:
            target = tf.gather(scale, tf.cast(labels, tf.int32))[..., None]
        return tf.gather(images, indices), target

    return tf.data.Dataset.from_tensor_slices(picks).map(gather, num_parallel_calls=1).prefetch(2)
