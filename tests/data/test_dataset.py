"""Masks prepared as the seed prepared them, and batches: streamed == cached, shuffled per epoch."""

import numpy as np
import pytest

from flexunet.data.dataset import (
    MaskOptions,
    PairSource,
    SegmentationBatches,
    prepare_mask,
    resize_image,
    should_cache,
    to_batch,
)
from flexunet.data.pairs import pair_files

SQUARE = np.zeros((8, 8), np.uint8)
SQUARE[3:5, 3:5] = 255                     # a 2x2 nucleus


def grown_square():
    out = np.zeros((8, 8), np.uint8)
    out[2:6, 2:6] = 255                    # a 3x3 box blur reaches one pixel further each side
    return out


@pytest.mark.parametrize("mask, opts, expected", [
    # binarize: strictly greater than the threshold is nucleus
    (np.array([[59, 60, 61, 255]], np.uint8), MaskOptions(True, 60, False),
     np.array([[0, 0, 255, 255]], np.uint8)),
    (np.array([[127, 128, 129, 0]], np.uint8), MaskOptions(True, 128, False),
     np.array([[0, 0, 255, 0]], np.uint8)),
    (np.array([[0, 1, 254, 255]], np.uint8), MaskOptions(True, 0, False),
     np.array([[0, 255, 255, 255]], np.uint8)),
    # 0/1 label masks are read as 0/255
    (np.array([[0, 1], [1, 0]], np.uint8), MaskOptions(True, 128, False),
     np.array([[0, 255], [255, 0]], np.uint8)),
    (np.array([[0, 1], [1, 0]], np.uint8), MaskOptions(False, 128, False),
     np.array([[0, 255], [255, 0]], np.uint8)),
    # neither binarize nor blur: soft values kept
    (np.array([[0, 37, 200, 255]], np.uint8), MaskOptions(False, 128, False),
     np.array([[0, 37, 200, 255]], np.uint8)),
    # blur (the seed's load): binarize, 3x3 box blur, any non-zero pixel -> grows by one pixel
    (SQUARE, MaskOptions(True, 60, True), grown_square()),
    (np.where(SQUARE > 0, 100, 30).astype(np.uint8), MaskOptions(True, 60, True), grown_square()),
    (SQUARE, MaskOptions(True, 60, False), SQUARE),
])
def test_prepare_mask(mask, opts, expected):
    got = prepare_mask(mask, mask.shape, opts)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


def test_prepare_mask_blur_of_a_single_pixel_with_5x5_kernel():
    mask = np.zeros((9, 9), np.uint8)
    mask[4, 4] = 255
    got = prepare_mask(mask, (9, 9), MaskOptions(True, 128, True, (5, 5)))
    expected = np.zeros((9, 9), np.uint8)
    expected[2:7, 2:7] = 255               # 255 / 25 = 10.2 -> 10 > 0 within the 5x5 box
    np.testing.assert_array_equal(got, expected)


def test_prepare_mask_resizes_to_the_model_size():
    mask = np.zeros((10, 20), np.uint8)
    mask[:, :10] = 255
    got = prepare_mask(mask, (5, 8), MaskOptions(True, 128, False))
    assert got.shape == (5, 8)
    assert set(np.unique(got)) <= {0, 255}
    assert np.all(got[:, :3] == 255) and np.all(got[:, 5:] == 0)


@pytest.mark.parametrize("shape, size, out", [
    ((10, 20, 3), (5, 8), (5, 8, 3)),
    ((10, 20), (5, 8), (5, 8)),
    ((10, 20, 1), (5, 8), (5, 8, 1)),
    ((64, 64, 3), (64, 64), (64, 64, 3)),
])
def test_resize_image_shapes(shape, size, out):
    image = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    got = resize_image(image, size)
    assert got.shape == out and got.dtype == np.uint8
    if shape[:2] == size:
        assert got is image


def test_to_batch_dtypes_and_ranges():
    x, y = to_batch([np.full((4, 4, 3), 200, np.uint8)] * 2, [np.full((4, 4), 255, np.uint8)] * 2)
    assert x.dtype == np.uint8 and x.shape == (2, 4, 4, 3) and x.max() == 200
    assert y.dtype == np.float32 and y.shape == (2, 4, 4, 1) and y.max() == 1.0


@pytest.fixture
def source(tiny_dataset):
    pairs = pair_files(tiny_dataset.images, tiny_dataset.masks, "IMG", "MSK")
    return PairSource(pairs, (64, 64), 3, MaskOptions(True, 60, True))


def test_streaming_and_cached_sources_give_identical_batches(tiny_dataset, source):
    cached = PairSource(source.pairs, (64, 64), 3, source.opts).cache(progress=False, workers=2)
    assert cached.images.shape == (24, 64, 64, 3) and cached.masks.shape == (24, 64, 64)
    for shuffle in (False, True):
        a = SegmentationBatches(source, 5, shuffle=shuffle, seed=3)
        b = SegmentationBatches(cached, 5, shuffle=shuffle, seed=3)
        assert len(a) == len(b) == 5
        for i in range(len(a)):
            (xa, ya), (xb, yb) = a[i], b[i]
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    sub_a, sub_b = source.subset([3, 0, 7]), cached.subset([3, 0, 7])
    for i in range(3):
        np.testing.assert_array_equal(sub_a.load(i)[0], sub_b.load(i)[0])
        np.testing.assert_array_equal(sub_a.load(i)[1], sub_b.load(i)[1])
    assert [p.stem for p in sub_a.pairs] == [source.pairs[i].stem for i in (3, 0, 7)]


def _epoch_indices(batches, cached):
    """Which sample each image of one epoch's batches is (matched against the cached arrays)."""
    seen = []
    for i in range(len(batches)):
        x, _ = batches[i]
        for image in x:
            match = [k for k in range(len(cached)) if np.array_equal(cached.images[k], image)]
            assert len(match) == 1
            seen.append(match[0])
    return seen


def test_batches_shapes_dtypes_and_values(source):
    source.cache(progress=False)
    batches = SegmentationBatches(source, 5)
    assert len(batches) == 5                               # ceil(24 / 5)
    for i in range(len(batches)):
        x, y = batches[i]
        n = 4 if i == 4 else 5
        assert x.shape == (n, 64, 64, 3) and x.dtype == np.uint8
        assert y.shape == (n, 64, 64, 1) and y.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 255.0 and x.max() > 1.0
        assert set(np.unique(y)) <= {0.0, 1.0} and y.max() == 1.0
    assert _epoch_indices(batches, source) == list(range(24))   # no shuffle: file order


def test_shuffle_covers_every_sample_once_and_is_deterministic(source):
    source.cache(progress=False)
    a = SegmentationBatches(source, 5, shuffle=True, seed=11)
    b = SegmentationBatches(source, 5, shuffle=True, seed=11)
    epoch0 = _epoch_indices(a, source)
    assert sorted(epoch0) == list(range(24)) and epoch0 != list(range(24))
    assert _epoch_indices(b, source) == epoch0
    a.on_epoch_end()
    epoch1 = _epoch_indices(a, source)
    assert sorted(epoch1) == list(range(24)) and epoch1 != epoch0
    # the order depends only on (seed, epoch): a fresh object started at epoch 1 agrees
    assert _epoch_indices(SegmentationBatches(source, 5, shuffle=True, seed=11, start_epoch=1),
                          source) == epoch1
    assert _epoch_indices(SegmentationBatches(source, 5, shuffle=True, seed=12), source) != epoch0


def test_steps_limit_the_epoch(source):
    batches = SegmentationBatches(source, 4, steps=2)
    assert len(batches) == 2
    assert len(SegmentationBatches(source, 4, steps=100)) == 6


def test_augmentation_is_deterministic_per_seed_epoch_and_batch(source):
    from flexunet.data.augment import AugmentOptions, Augmentor

    source.cache(progress=False)
    aug = Augmentor(AugmentOptions(probability=1.0))
    a = SegmentationBatches(source, 6, shuffle=True, seed=2, augment=aug)
    b = SegmentationBatches(source, 6, shuffle=True, seed=2, augment=aug)
    np.testing.assert_array_equal(a[1][0], b[1][0])
    np.testing.assert_array_equal(a[1][1], b[1][1])
    assert set(np.unique(a[1][1])) <= {0.0, 1.0}


def test_should_cache():
    src = PairSource([], (64, 64), 3, MaskOptions())
    assert should_cache([src], None) is True
    assert should_cache([src], False) is False
    big = PairSource([None] * 100_000, (128, 128), 3, MaskOptions())
    assert big.nbytes == 100_000 * 128 * 128 * 4
    assert should_cache([big], None) is False and should_cache([big], True) is True
    # 10,000 + 10,000 pairs: each half fits the 1 GiB limit, together they do not
    half = PairSource([None] * 10_000, (128, 128), 3, MaskOptions())
    assert should_cache([half], None) is True and should_cache([half, half], None) is False


def test_real_pairs_load_with_seed_mask_options(shared_data):
    root = shared_data / "Pap-Smear-master" / "severe_dysplastic"
    pairs = pair_files(root / "images", root / "masks", "IMG", "MSK")
    assert len(pairs) == 2041
    src = PairSource(pairs[:6], (128, 128), 3, MaskOptions(True, 60, True))
    x, y = SegmentationBatches(src, 6)[0]
    assert x.shape == (6, 128, 128, 3) and y.shape == (6, 128, 128, 1)
    assert set(np.unique(y)) <= {0.0, 1.0}
    assert all(0.0 < y[i].mean() < 0.9 for i in range(6))     # every cell has a nucleus


def test_a_binary_config_reads_a_label_mask_as_its_nucleus_even_with_soft_targets():
    """0/128/255 is a 3-class label mask: its 128 is cytoplasm, so soft targets (binarize = False) must not
    learn 0.5 there; a grey-edged mask (any other values) keeps its grey levels."""
    from flexunet.data.dataset import MaskOptions, is_label_mask, prepare_mask

    labels = np.array([[0, 128, 255, 128]], np.uint8)
    soft = MaskOptions(binarize=False)
    assert is_label_mask(labels) and prepare_mask(labels, (1, 4), soft).tolist() == [[0, 0, 255, 0]]
    edge = np.array([[0, 127, 255, 200]], np.uint8)
    assert not is_label_mask(edge) and prepare_mask(edge, (1, 4), soft).tolist() == [[0, 127, 255, 200]]
    assert not is_label_mask(np.array([[0, 255]], np.uint8))
