"""The TensorFlow fast path gives the very batches SegmentationBatches gives, epoch after epoch."""

import keras
import numpy as np
import pytest

from flexunet.data.dataset import MaskOptions, PairSource, SegmentationBatches
from flexunet.data.graph import epoch_batches, in_graph

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the TensorFlow backend's path")


def cached(count: int, classes: int = 1) -> PairSource:
    rng = np.random.default_rng(0)
    source = PairSource([None] * count, (8, 8), 3, MaskOptions(binarize=False, num_classes=classes))
    source.images = rng.integers(0, 256, (count, 8, 8, 3), dtype=np.uint8)
    source.masks = (rng.integers(0, classes, (count, 8, 8)) if classes > 1
                    else rng.integers(0, 256, (count, 8, 8))).astype(np.uint8)
    return source


@pytest.mark.parametrize("count, batch, start, epochs, steps, classes", [
    (11, 4, 0, 3, None, 1),      # a partial last batch in every epoch
    (12, 4, 2, 5, None, 3),      # resumed at epoch 2; one-hot labels
    (10, 3, 0, 2, 2, 1),         # steps_per_epoch caps each epoch
])
def test_the_graph_batches_equal_the_python_ones(count, batch, start, epochs, steps, classes):
    python = SegmentationBatches(cached(count, classes), batch, shuffle=True, seed=7, start_epoch=start, steps=steps)
    graph = list(in_graph(SegmentationBatches(cached(count, classes), batch, shuffle=True, seed=7,
                                              start_epoch=start, steps=steps), epochs).as_numpy_iterator())
    expected = []
    for _ in range(start, epochs):
        expected += [python[i] for i in range(len(python))]
        python.on_epoch_end()
    assert len(graph) == len(expected) == (epochs - start) * len(python)
    for (gx, gy), (px, py) in zip(graph, expected):
        np.testing.assert_array_equal(gx, px)
        np.testing.assert_array_equal(gy, py)


def test_epochs_shuffle_differently_and_without_shuffle_keep_the_order():
    batches = SegmentationBatches(cached(9), 3, shuffle=True, seed=1)
    assert [b.tolist() for b in epoch_batches(batches, 0)] != [b.tolist() for b in epoch_batches(batches, 1)]
    plain = SegmentationBatches(cached(9), 3)
    assert [b.tolist() for b in epoch_batches(plain, 4)] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]


def test_no_fast_path_for_streamed_or_augmented_sources():
    streamed = cached(4)
    streamed.images = None
    assert in_graph(SegmentationBatches(streamed, 2)) is None
    assert in_graph(SegmentationBatches(cached(4), 2, augment=lambda i, m, r: (i, m))) is None
