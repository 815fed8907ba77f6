"""The fast stand-ins give the pixels of the scipy/scikit-image calls they replace."""

import numpy as np
import pytest
from scipy.ndimage import binary_dilation, binary_fill_holes
from skimage.measure import label

from flexunet.inference.morphology import dilate_cross, fill_holes, label4, label8


def picture(*rows: str) -> np.ndarray:
    return np.array([[ch == "#" for ch in r] for r in rows])


# name: (mask, holes filled)
FILLS = {
    "ring": (picture("#####", "#...#", "#####"), picture("#####", "#####", "#####")),
    "open ring": (picture("##.##", "#...#", "#####"), picture("##.##", "#...#", "#####")),
    "diagonal gap leaks": (picture(".##", "#.#", "##."), picture(".##", "###", "##.")),
    "empty": (picture("...", "..."), picture("...", "...")),
}


@pytest.mark.parametrize("name", FILLS)
def test_fill_holes_by_hand(name):
    mask, expected = FILLS[name]
    np.testing.assert_array_equal(fill_holes(mask), expected)


def test_dilation_by_hand_is_a_diamond_clipped_to_the_image():
    mask = picture(".....", ".....", "#....")
    np.testing.assert_array_equal(dilate_cross(mask, 2), picture("#....", "##...", "###.."))
    np.testing.assert_array_equal(dilate_cross(mask, 0), mask)


def test_labels_number_components_in_raster_order():
    mask = picture("#.#", ".#.", "#..")
    np.testing.assert_array_equal(label8(mask), [[1, 0, 1], [0, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(label4(mask), [[1, 0, 2], [0, 3, 0], [4, 0, 0]])


@pytest.mark.parametrize("seed", range(4))
def test_same_pixels_as_scipy_and_skimage_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        mask = rng.random(tuple(rng.integers(1, 40, 2))) < rng.uniform(0.2, 0.8)
        np.testing.assert_array_equal(fill_holes(mask), binary_fill_holes(mask))
        for steps in (1, 3):
            np.testing.assert_array_equal(dilate_cross(mask, steps), binary_dilation(mask, iterations=steps))
        np.testing.assert_array_equal(label8(mask), label(mask, connectivity=2))
        np.testing.assert_array_equal(label4(mask), label(mask, connectivity=1))
        assert label8(mask).dtype == np.int32
