"""Per-cell measurements: hand-computed areas, ratios and shapes; nuclei matched to the truth by IoU."""

import math

import numpy as np
import pytest

from flexunet.inference.measures import CELL_COLUMNS, grey, match_cells, measure_cells


def rect(shape, top, left, height, width) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top:top + height, left:left + width] = True
    return mask


def test_a_nucleus_in_its_cell_by_hand():
    """A 4x4 nucleus (grey 50) inside an 8x8 cell: cytoplasm 64 - 16 = 48 px, N/C 16/48, N/(N+C) 16/64;
    with 0.5 µm pixels the areas are a quarter in µm²."""
    image = np.full((12, 12, 3), 200, np.uint8)
    nucleus = rect((12, 12), 4, 4, 4, 4)
    image[nucleus] = 50
    cell = rect((12, 12), 2, 2, 8, 8)
    (row,) = measure_cells(nucleus, image, cell & ~nucleus, pixel_size_um=0.5, name="a.png")
    assert list(row) == CELL_COLUMNS
    assert (row["file"], row["cell"], row["centroid_x"], row["centroid_y"]) == ("a.png", 1, 5.5, 5.5)
    assert (row["nucleus_area_px"], row["cytoplasm_area_px"]) == (16, 48)
    assert (row["nucleus_area_um2"], row["cytoplasm_area_um2"]) == (4.0, 12.0)
    assert row["nc_ratio"] == pytest.approx(16 / 48) and row["nucleus_to_cell"] == pytest.approx(16 / 64)
    assert row["mean_brightness"] == pytest.approx(50.0, abs=0.01)
    assert row["equivalent_diameter_px"] == pytest.approx(2 * math.sqrt(16 / math.pi))
    assert row["longest_diameter_px"] == pytest.approx(4 * math.sqrt(1.25), rel=1e-3)  # a 4x4 square's axes


def test_shape_measures_of_a_disc_and_a_bar():
    yy, xx = np.mgrid[:41, :41]
    disc = (yy - 20) ** 2 + (xx - 20) ** 2 <= 15 ** 2
    bar = rect((41, 41), 18, 5, 4, 30)
    image = np.zeros((41, 41), np.uint8)
    (d,) = measure_cells(disc, image)
    (b,) = measure_cells(bar, image)
    # a digital disc of radius 15: 709 px, both ellipse axes about 2r = 30, so roundness 709 / (pi 15^2) = 1.003;
    # a 4 x 30 bar: axes 4 sqrt((30^2 - 1) / 12) = 34.6 and 4 sqrt((4^2 - 1) / 12) = 4.47
    assert d["nucleus_area_px"] == 709 and d["elongation"] == pytest.approx(1.0, abs=0.02)
    assert d["roundness"] == pytest.approx(709 / (math.pi * 15 ** 2), abs=0.02)
    assert b["longest_diameter_px"] == pytest.approx(4 * math.sqrt((30 ** 2 - 1) / 12), rel=1e-3)
    assert b["shortest_diameter_px"] == pytest.approx(4 * math.sqrt((4 ** 2 - 1) / 12), rel=1e-3)
    assert b["elongation"] < 0.2 and b["roundness"] < 0.2
    assert b["nucleus_area_px"] == 120 and math.isnan(b["nc_ratio"]) and math.isnan(b["nucleus_area_um2"])


def test_two_touching_cells_share_their_cytoplasm_by_watershed():
    """Two 3x3 nuclei (columns 2-4 and 9-11) in one 4x12 cell region (columns 1-12): each nucleus gets the
    cytoplasm nearer to it, 48 - 18 = 30 px split 15 and 15."""
    nucleus = rect((6, 14), 2, 2, 3, 3) | rect((6, 14), 2, 9, 3, 3)
    cell = rect((6, 14), 1, 1, 4, 12)
    rows = measure_cells(nucleus, np.zeros((6, 14), np.uint8), cell & ~nucleus)
    assert [r["cell"] for r in rows] == [1, 2] and rows[0]["centroid_x"] < rows[1]["centroid_x"]
    assert [r["cytoplasm_area_px"] for r in rows] == [15, 15]


def test_no_nucleus_no_rows_and_specks_are_not_measured():
    assert measure_cells(np.zeros((8, 8), bool), np.zeros((8, 8, 3), np.uint8)) == []
    specks = rect((8, 8), 0, 0, 2, 2) | rect((8, 8), 4, 4, 3, 3)   # 4 px: a speck; 9 px: a nucleus
    rows = measure_cells(specks, np.zeros((8, 8), np.uint8))
    assert [(r["cell"], r["nucleus_area_px"]) for r in rows] == [(2, 9.0)]


def test_matching_by_iou():
    truth = rect((10, 20), 1, 1, 4, 4) | rect((10, 20), 1, 10, 4, 4) | rect((10, 20), 6, 1, 3, 3)
    pred = rect((10, 20), 1, 1, 4, 4) | rect((10, 20), 1, 12, 4, 4)
    # cell 1: identical; cell 2 overlaps 2 of 4 columns: IoU 8 / 24 < 0.5; cell 3 (the 3x3 one) missed
    assert match_cells(truth, pred) == [(1, 1)]
    assert match_cells(truth, pred, min_iou=0.3) == [(1, 1), (2, 2)]


def test_grey_is_luminance():
    np.testing.assert_allclose(grey(np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)), [[0.299 * 255, 0.114 * 255]])


@pytest.mark.parametrize("height, width, perimeter", [
    (5, 5, 16.0),   # the outline through the border pixels' centres: a 4 x 4 square
    (3, 8, 18.0),   # 2 x 7 + 2 x 2
    (2, 4, 8.0),    # 2 x 3 + 2 x 1
])
def test_perimeter_of_rectangles_by_hand(height, width, perimeter):
    (row,) = measure_cells(rect((12, 12), 2, 2, height, width), np.zeros((12, 12), np.uint8))
    assert row["perimeter_px"] == pytest.approx(perimeter)


def test_a_speck_takes_no_cytoplasm_from_the_nucleus_beside_it():
    """A 4 px speck (under MIN_NUCLEUS) beside a 3x3 nucleus in one 4x12 cell: the speck is not measured
    and seeds nothing, so the nucleus gets all 48 - 9 - 4 = 35 cytoplasm px (the speck's 4 px are nucleus
    class, not cytoplasm); seeded by the speck as well it would get about half."""
    nucleus = rect((6, 14), 2, 2, 3, 3) | rect((6, 14), 2, 10, 2, 2)
    cell = rect((6, 14), 1, 1, 4, 12)
    (row,) = measure_cells(nucleus, np.zeros((6, 14), np.uint8), cell & ~nucleus)
    assert (row["cell"], row["nucleus_area_px"], row["cytoplasm_area_px"]) == (1, 9.0, 35.0)
