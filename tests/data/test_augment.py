"""Augmentation: image and mask move together, masks stay 0/255, same seed -> same result."""

import numpy as np
import pytest

from flexunet.data.augment import AugmentOptions, Augmentor, affine_matrix, jitter_colour

OFF = dict(vflip=False, hflip=False, rotation=False, angles=(), shrinks=(), shears=(),
           deformation=False, brightness=0.0, contrast=0.0, hue=0.0, probability=1.0)
H, W = 8, 10
MARK = (1, 2)                              # (row, col) of the marker pixel


def marked():
    image = np.full((H, W, 3), 40, np.uint8)
    image[MARK] = (250, 10, 10)
    mask = np.zeros((H, W), np.uint8)
    mask[MARK] = 255
    return image, mask


def where(array):
    return [tuple(int(v) for v in p) for p in np.argwhere(array)]


@pytest.mark.parametrize("options, expected", [
    (dict(hflip=True), (1, W - 1 - 2)),
    (dict(vflip=True), (H - 1 - 1, 2)),
    (dict(hflip=True, vflip=True), (H - 1 - 1, W - 1 - 2)),
])
def test_flips_move_image_and_mask_together(options, expected):
    image, mask = marked()
    aug = Augmentor(AugmentOptions(**{**OFF, **options}))
    out_image, out_mask = aug(image, mask, np.random.default_rng(0))
    assert where(out_mask == 255) == [expected]
    assert where(out_image[..., 0] == 250) == [expected]
    assert out_image.shape == image.shape and out_mask.shape == mask.shape
    assert out_image.flags["C_CONTIGUOUS"] and out_mask.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("angle, k", [(90.0, 1), (180.0, 2), (270.0, 3)])
def test_right_angle_rotation_is_an_exact_pixel_rotation(angle, k):
    """A square image rotated by a multiple of 90 degrees about its centre is np.rot90 of it:
    no pixel shifts, no border fill."""
    size = 8
    image = np.random.default_rng(1).integers(0, 255, (size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size), np.uint8)
    mask[1, 2] = 255
    mask[5:7, 4:7] = 255
    aug = Augmentor(AugmentOptions(**{**OFF, "rotation": True, "angles": (angle,)}))
    out_image, out_mask = aug(image, mask, np.random.default_rng(0))
    np.testing.assert_array_equal(out_mask, np.rot90(mask, k))
    np.testing.assert_array_equal(out_image, np.rot90(image, k))


def test_rotation_moves_the_marker_identically_in_image_and_mask():
    image, mask = marked()
    image = np.ascontiguousarray(image[:, :8])
    mask = np.ascontiguousarray(mask[:, :8])
    aug = Augmentor(AugmentOptions(**{**OFF, "rotation": True, "angles": (90.0,)}))
    out_image, out_mask = aug(image, mask, np.random.default_rng(0))
    assert len(where(out_mask == 255)) == 1
    assert where(out_mask == 255) == where(out_image[..., 0] == 250)


def test_masks_stay_binary_under_every_geometric_transform():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 10:24] = 255
    opts = AugmentOptions(vflip=True, hflip=True, rotation=True, angles=(30.0, 45.0), shrinks=(0.8, 1.2),
                          shears=(0.2,), deformation=True, deformation_alpha=5.0, deformation_sigma=3.0,
                          brightness=0.1, contrast=0.1, hue=10.0, probability=1.0)
    aug = Augmentor(opts)
    for seed in range(5):
        out_image, out_mask = aug(image, mask, np.random.default_rng(seed))
        assert out_mask.dtype == np.uint8 and out_mask.shape == (32, 32)
        assert set(np.unique(out_mask)) <= {0, 255}
        assert 0 < (out_mask == 255).sum() < out_mask.size
        assert out_image.dtype == np.uint8 and out_image.shape == (32, 32, 3)


def test_soft_masks_are_not_binarized():
    mask = np.tile(np.arange(0, 256, 32, dtype=np.uint8), (8, 1))
    image = np.zeros((8, 8, 3), np.uint8)
    aug = Augmentor(AugmentOptions(**{**OFF, "hflip": True}))
    _, out = aug(image, mask, np.random.default_rng(0))
    np.testing.assert_array_equal(out, mask[:, ::-1])


def test_deterministic_given_the_rng_seed():
    rng = np.random.default_rng(9)
    image = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
    mask = np.where(rng.random((24, 24)) > 0.7, 255, 0).astype(np.uint8)
    aug = Augmentor(AugmentOptions(shrinks=(0.9,), shears=(0.1,), deformation=True, brightness=0.2,
                                   contrast=0.2, hue=5.0, probability=0.5))
    outs = [aug(image, mask, np.random.default_rng(42)) for _ in range(2)]
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    others = [aug(image, mask, np.random.default_rng(s)) for s in range(6)]
    assert any(not np.array_equal(o[0], outs[0][0]) for o in others)


def test_colour_jitter_leaves_the_mask_unchanged():
    rng = np.random.default_rng(3)
    image = rng.integers(20, 230, (16, 16, 3), dtype=np.uint8)
    mask = np.where(rng.random((16, 16)) > 0.5, 255, 0).astype(np.uint8)
    aug = Augmentor(AugmentOptions(**{**OFF, "brightness": 0.2, "contrast": 0.3, "hue": 20.0}))
    out_image, out_mask = aug(image, mask, np.random.default_rng(1))
    np.testing.assert_array_equal(out_mask, mask)
    assert not np.array_equal(out_image, image)


def test_probability_zero_changes_nothing():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    mask = np.where(rng.random((16, 16)) > 0.5, 255, 0).astype(np.uint8)
    aug = Augmentor(AugmentOptions(shrinks=(0.5,), shears=(0.3,), deformation=True, brightness=0.5,
                                   probability=0.0))
    out_image, out_mask = aug(image, mask, np.random.default_rng(0))
    np.testing.assert_array_equal(out_image, image)
    np.testing.assert_array_equal(out_mask, mask)


def test_single_channel_images_keep_their_channel_axis():
    image = np.zeros((8, 8, 1), np.uint8)
    image[1, 2, 0] = 200
    mask = np.zeros((8, 8), np.uint8)
    aug = Augmentor(AugmentOptions(**{**OFF, "rotation": True, "angles": (45.0,)}))
    out_image, _ = aug(image, mask, np.random.default_rng(0))
    assert out_image.shape == (8, 8, 1)


@pytest.mark.parametrize("brightness, expected_range", [(0.1, 25.5)])
def test_brightness_jitter_bounded(brightness, expected_range):
    image = np.full((4, 4, 3), 128, np.uint8)
    opts = AugmentOptions(**{**OFF, "brightness": brightness})
    for seed in range(10):
        out = jitter_colour(image, opts, np.random.default_rng(seed))
        shift = int(out[0, 0, 0]) - 128
        assert abs(shift) <= expected_range + 1
        assert np.all(out == out[0, 0, 0])      # a uniform shift over all pixels and channels


def test_affine_matrix_identity_and_scale():
    np.testing.assert_allclose(affine_matrix((10, 20), 0.0, 1.0, 0.0), [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    m = affine_matrix((10, 20), 0.0, 0.5, 0.0)
    # scaling about the pixel-grid centre ((20-1)/2, (10-1)/2) = (9.5, 4.5): it stays where it is
    np.testing.assert_allclose(m @ np.array([9.5, 4.5, 1.0]), [9.5, 4.5], atol=1e-9)
