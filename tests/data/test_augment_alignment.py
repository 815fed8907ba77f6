"""Issue 18: shear, zoom and elastic deformation move the image and its mask together, by the amounts they say.

The test image carries its own coordinates: channel 0 is the mask itself (0/255), channel 1 is 4 x column
and channel 2 is 4 x row. Bilinear interpolation of a linear ramp is exact, so after any warp channels 1
and 2 say which source point each output pixel was sampled from (to 1/8 pixel from the uint8 rounding of
4 x coordinate, plus cv2's 1/32-pixel interpolation steps). Three numbers are then checked per transform:

* alignment: the transformed mask equals the transformed channel 0 > 127 (both interpolate the same 0/255
  values at the same points; the mask is re-binarized at 127, so they may only disagree where channel 0
  is within a grey level or two of 127, from cv2's fixed-point rounding);
* consistency: the transformed mask is the ORIGINAL mask at the decoded source point, except within
  1.5 pixels of the mask's outline (the decoded point is exact to about 0.2 px and the outline pixel's
  own interpolation blends both sides);
* geometry: for shear and zoom the decoded source point is the hand-computed inverse of the transform
  (to 0.3 px), the mask is the original resampled there by scipy's own bilinear interpolation (except
  where that value is within 10 grey levels of 127.5: cv2 rounds the sampling position to 1/32 px, which
  moves a value on a 0-to-255 edge by up to about 8), and its area scales by about zoom^2 (shear keeps it).
"""

import numpy as np
import pytest
from scipy import ndimage

from flexunet.data.augment import AugmentOptions, Augmentor

SIZE = 64
CENTRE = (SIZE - 1) / 2


def coordinate_image() -> tuple[np.ndarray, np.ndarray]:
    """(image, mask): an ellipse and a rectangle off the centre, at least 14 px from every border (so
    shrinking by 0.7, which shows 13.5 px of reflected border, brings in no mirrored copy)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    mask = ((xx - 26) / 10.0) ** 2 + ((yy - 30) / 7.0) ** 2 <= 1
    mask |= (xx >= 38) & (xx <= 46) & (yy >= 18) & (yy <= 26)
    mask = np.where(mask, 255, 0).astype(np.uint8)
    image = np.stack([mask, (4 * xx).astype(np.uint8), (4 * yy).astype(np.uint8)], axis=-1)
    return image, mask


def augment(seed: int = 0, **options) -> tuple[np.ndarray, np.ndarray]:
    opts = AugmentOptions(vflip=False, hflip=False, rotation=False, probability=1.0, **options)
    image, mask = coordinate_image()
    return Augmentor(opts)(image, mask, np.random.default_rng(seed))


def near_outline(mask: np.ndarray, sy: np.ndarray, sx: np.ndarray, within: float = 1.5) -> np.ndarray:
    """Output pixels whose decoded source point lies within `within` px of the original mask's outline."""
    fg = mask > 127
    distance = np.where(fg, ndimage.distance_transform_edt(fg), ndimage.distance_transform_edt(~fg))
    # distance of the nearest pixel centre, minus the decoded point's offset from it (at most 0.71 px)
    iy, ix = np.clip(np.rint(sy), 0, SIZE - 1).astype(int), np.clip(np.rint(sx), 0, SIZE - 1).astype(int)
    return distance[iy, ix] <= within + 0.71


def check_alignment(image_t: np.ndarray, mask_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The three-way agreement of the docstring; returns the decoded source points (sy, sx)."""
    original_image, original = coordinate_image()
    assert image_t.shape == original_image.shape and mask_t.shape == original.shape
    assert set(np.unique(mask_t)) <= {0, 255}
    # alignment with the image's own mask channel
    disagree = (mask_t > 127) != (image_t[..., 0] > 127)
    assert np.all(np.abs(image_t[..., 0][disagree].astype(int) - 127.5) <= 2), "mask and image moved apart"
    # consistency with the original mask at the decoded source point
    sy, sx = image_t[..., 2] / 4.0, image_t[..., 1] / 4.0
    looked_up = original[np.clip(np.rint(sy), 0, SIZE - 1).astype(int), np.clip(np.rint(sx), 0, SIZE - 1).astype(int)]
    wrong = (looked_up > 127) != (mask_t > 127)
    assert not np.any(wrong & ~near_outline(original, sy, sx)), int((wrong & ~near_outline(original, sy, sx)).sum())
    # the transform really moved the mask (else the checks above prove nothing)
    assert ((mask_t > 127) != (original > 127)).sum() > 50
    return sy, sx


def hand_inverse(shear: float = 0.0, zoom: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Source (row, column) of every output pixel for a zoom about the centre then a shear of x by y:
    x' = c + zoom (x - c) + shear zoom (y - c), y' = c + zoom (y - c)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    sy = CENTRE + (yy - CENTRE) / zoom
    sx = CENTRE + (xx - CENTRE - shear * (yy - CENTRE)) / zoom
    return sy, sx


def area(mask: np.ndarray) -> int:
    return int((mask > 127).sum())


def check_resampled(mask_t: np.ndarray, hy: np.ndarray, hx: np.ndarray) -> None:
    """mask_t is the original mask resampled bilinearly at (hy, hx), reflected at the borders (scipy's
    "mirror" is OpenCV's BORDER_REFLECT_101), then > 127, wherever that is not a near tie."""
    values = ndimage.map_coordinates(coordinate_image()[1].astype(np.float64), [hy, hx], order=1, mode="mirror")
    sure = np.abs(values - 127.5) > 10
    assert np.array_equal((mask_t > 127)[sure], (values > 127.5)[sure])
    assert (~sure).mean() < 0.05


@pytest.mark.parametrize("shear", [0.25, -0.3])
def test_shear_alone(shear):
    image_t, mask_t = augment(shears=(shear,))
    sy, sx = check_alignment(image_t, mask_t)
    hy, hx = hand_inverse(shear=shear)
    inside = (hx >= 0) & (hx <= SIZE - 1)
    assert inside.mean() > 0.6
    assert np.abs(sx - hx)[inside].max() <= 0.3 and np.abs(sy - hy).max() <= 0.3
    check_resampled(mask_t, hy, hx)
    assert area(mask_t) == pytest.approx(area(coordinate_image()[1]), rel=0.05)     # a shear keeps areas


@pytest.mark.parametrize("zoom", [0.7, 1.3])
def test_zoom_alone(zoom):
    image_t, mask_t = augment(shrinks=(zoom,))
    sy, sx = check_alignment(image_t, mask_t)
    hy, hx = hand_inverse(zoom=zoom)
    inside = (hx >= 0) & (hx <= SIZE - 1) & (hy >= 0) & (hy <= SIZE - 1)
    assert inside.mean() > 0.45
    assert np.abs(sx - hx)[inside].max() <= 0.3 and np.abs(sy - hy)[inside].max() <= 0.3
    check_resampled(mask_t, hy, hx)
    # 301 px shrunk to 159 at 0.7 (0.49 x 301 = 147.5: the outline of so small a shape rounds outwards)
    assert area(mask_t) == pytest.approx(zoom ** 2 * area(coordinate_image()[1]), rel=0.1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_elastic_deformation_alone(seed):
    alpha = 6.0
    image_t, mask_t = augment(seed, deformation=True, deformation_alpha=alpha, deformation_sigma=4.0)
    sy, sx = check_alignment(image_t, mask_t)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    shift = np.hypot(sy - yy, sx - xx)
    # the displacement peaks at alpha on one axis (sqrt(2) alpha on both); reflections only shorten it
    assert shift.max() <= np.sqrt(2) * alpha + 0.3 and shift.max() >= alpha - 0.3
    assert shift.mean() > 1.0
    assert area(mask_t) == pytest.approx(area(coordinate_image()[1]), rel=0.25)


@pytest.mark.parametrize("seed", [0, 1])
def test_shear_zoom_and_deformation_together(seed):
    image_t, mask_t = augment(seed, shears=(0.2,), shrinks=(0.8,), deformation=True, deformation_alpha=5.0,
                              deformation_sigma=5.0)
    check_alignment(image_t, mask_t)


def test_shear_then_zoom_matches_the_hand_inverse_without_deformation():
    image_t, mask_t = augment(shears=(0.2,), shrinks=(0.8,))
    sy, sx = check_alignment(image_t, mask_t)
    hy, hx = hand_inverse(shear=0.2, zoom=0.8)
    inside = (hx >= 0) & (hx <= SIZE - 1) & (hy >= 0) & (hy <= SIZE - 1)
    assert np.abs(sx - hx)[inside].max() <= 0.3 and np.abs(sy - hy)[inside].max() <= 0.3
    check_resampled(mask_t, hy, hx)
