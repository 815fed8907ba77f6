"""Whole slides streamed window by window: every cell once, whole, whatever the seams; outputs a viewer opens."""

import csv
import json

import numpy as np
import pytest
import tifffile

from flexunet.data.geojson import read_cells_geojson, read_geojson_measurements
from flexunet.data.instances import paint
from flexunet.data.pyramid import array_tiles, write_pyramid
from flexunet.generators.slides import write_synthetic_slide
from flexunet.inference.cells import INSTANCE_COLUMNS, build_cells, measure_instances
from flexunet.inference.slide import SlideSettings, infer_slide, is_slide, owned, window_grid, with_halo
from flexunet.model.record import CellRule

RULE = CellRule(cell_threshold=0.5, nucleus_threshold=0.5, min_nucleus_px=4, fill_holes=True)


def threshold_predict(tiles: np.ndarray) -> np.ndarray:
    """A stand-in model (per pixel, so tiles and windows agree exactly): whole cell where the image is darker
    than the background, nucleus where much darker, no outline or overlap channel."""
    grey = tiles.mean(axis=-1)
    out = np.zeros(tiles.shape[:3] + (4,), np.float32)
    out[..., 0] = grey < 200
    out[..., 1] = grey < 130
    return out


def draw(rng: np.random.Generator, size: int):
    """Two cells per 128-px field that never touch (here or in a neighbouring field), so segmenting a window
    or the whole slide gives the same cells: discs of radius 16-22 at (40, 40) and (88, 88), jittered by up to
    4 px, each with a nucleus of radius 5-7."""
    import cv2

    from flexunet.data.instances import cell_from_masks

    image = np.full((size, size, 3), 220, np.uint8)
    cells = []
    for k, centre in enumerate(((40, 40), (88, 88)), 1):
        y, x = (int(v + rng.integers(-4, 5)) for v in centre)
        cell, nucleus = np.zeros((size, size), np.uint8), np.zeros((size, size), np.uint8)
        cv2.circle(cell, (x, y), int(rng.integers(16, 23)), 1, -1)
        cv2.circle(nucleus, (x + int(rng.integers(-3, 4)), y), int(rng.integers(5, 8)), 1, -1)
        image[cell > 0], image[nucleus > 0] = 170, 90
        cells.append(cell_from_masks(k, cell > 0, nucleus > 0))
    return image, cells


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slide")
    truth = write_synthetic_slide(folder / "slide.ome.tif", 640, 128, seed=3, draw=draw, blank_fraction=0.2,
                                  tile=128, pixel_size_um=0.5)
    return folder / "slide.ome.tif", truth


def streamed(path, out, settings: SlideSettings):
    out.mkdir()
    return infer_slide(path, out, threshold_predict, 128, 16, 8, lambda p: build_cells(p, RULE),
                       lambda cells, image: measure_instances(cells, image, 0.5), INSTANCE_COLUMNS, settings)


@pytest.mark.parametrize("shape, core, expected", [
    ((300, 250), 128, [[(0, 0, 128, 128), (0, 128, 128, 250)], [(128, 0, 256, 128), (128, 128, 256, 250)],
                       [(256, 0, 300, 128), (256, 128, 300, 250)]]),
    ((100, 100), 128, [[(0, 0, 100, 100)]]),
])
def test_window_grid_by_hand(shape, core, expected):
    assert window_grid(shape, core) == expected


def test_a_halo_is_clipped_to_the_slide():
    assert with_halo((0, 128, 128, 250), 32, (300, 250)) == (0, 96, 160, 250)


def test_a_cell_belongs_to_the_core_holding_its_nucleus_centroid():
    from flexunet.data.instances import cell_from_masks

    mask = np.zeros((20, 20), bool)
    mask[8:12, 2:6] = True                                     # nucleus centroid (9.5, 3.5) in the window frame
    cell = cell_from_masks(1, mask, mask)
    window = (100, 100, 120, 120)
    assert owned(cell, (100, 100, 110, 110), window) and not owned(cell, (100, 104, 110, 110), window)


def test_streamed_cells_equal_the_whole_slide_s_cells_once_each(slide, tmp_path):
    """Windows of 160 px (and 48 px of halo) cut the 640 px slide into 16; the cells the stream keeps are
    exactly those of the whole slide segmented at once and those drawn: none twice, none split, none lost at
    the seams."""
    path, truth = slide
    summary = streamed(path, tmp_path / "out", SlideSettings(window_px=160, halo_px=48, skip_background=False))
    image = tifffile.imread(path, level=0)
    whole = build_cells(threshold_predict(image[None])[0], RULE)
    assert summary.windows == 16 and summary.skipped == 0 and summary.cut_cells == 0
    assert summary.cells == len(whole) == len(truth.cells) > 20
    found = read_cells_geojson(tmp_path / "out" / "slide.geojson", image.shape[:2])
    key = sorted((c.box, c.cell_area, c.nucleus_area) for c in found)
    assert key == sorted((c.box, c.cell_area, c.nucleus_area) for c in whole)
    seam = [c for c in whole if any(c.box[0] < k * 160 < c.box[2] or c.box[1] < k * 160 < c.box[3] for k in (1, 2, 3))]
    assert len(seam) >= 3                                      # the test has cells on seams to get right
    labels = tifffile.imread(tmp_path / "out" / "slide_cells.ome.tif", level=0)
    assert labels.shape == (2, 640, 640) and labels.dtype == np.uint32
    np.testing.assert_array_equal(labels[0] > 0, paint(whole, (640, 640)) > 0)
    assert set(np.unique(labels[1])) - {0} <= set(np.unique(labels[0]))
    with tifffile.TiffFile(tmp_path / "out" / "slide_cells.ome.tif") as tif:
        assert len(tif.series[0].levels) >= 2                  # a pyramid QuPath and napari open
    with open(tmp_path / "out" / "slide_cells.csv", newline="") as handle:
        rows = {int(r["cell"]): r for r in csv.DictReader(handle)}
    measurements = read_geojson_measurements(tmp_path / "out" / "slide.geojson")
    assert set(rows) == set(measurements) == {c.id for c in found}
    for cell_id, row in list(rows.items())[:10]:
        assert float(row["nucleus_area_px"]) == measurements[cell_id]["nucleus_area_px"]
    record = json.loads((tmp_path / "out" / "slide_slide.json").read_text())
    assert record["cells"] == summary.cells and record["pixel_size_um"] == pytest.approx(0.5)


def test_background_windows_are_skipped_and_counted(slide, tmp_path):
    path, _ = slide
    blank = tmp_path / "blank.ome.tif"
    write_pyramid(blank, (640, 640), np.uint8, array_tiles(np.full((640, 640, 3), 235, np.uint8), 128), tile=128,
                  kind="image", channels=3)
    summary = streamed(blank, tmp_path / "out", SlideSettings(window_px=160, halo_px=48))
    assert (summary.windows, summary.skipped, summary.cells, summary.tiles) == (16, 16, 0, 0)


@pytest.mark.parametrize("min_pixels, expected", [(640 * 640, True), (640 * 640 + 1, True)])
def test_a_pyramidal_tiff_is_a_slide(slide, min_pixels, expected):
    assert is_slide(slide[0], min_pixels) is expected


def test_a_small_plain_image_is_not_a_slide(tmp_path):
    tifffile.imwrite(tmp_path / "small.tif", np.zeros((64, 64, 3), np.uint8))
    assert not is_slide(tmp_path / "small.tif", 10_000) and is_slide(tmp_path / "small.tif", 4096)


def test_label_tiles_are_the_whole_slides_labels_cut_into_tiles():
    from flexunet.data.instances import Cell
    from flexunet.inference.slide import LABEL_TILE, _emit

    rng = np.random.default_rng(3)
    shape = (LABEL_TILE * 2 + 100, LABEL_TILE * 2 + 37)
    cells = []
    for k in range(1, 120):  # boxes across tile edges and overlapping each other
        top, left = int(rng.integers(0, shape[0] - 60)), int(rng.integers(0, shape[1] - 60))
        height, width = (int(v) for v in rng.integers(5, 60, 2))
        body = rng.random((height, width)) < 0.8
        cells.append(Cell(k, (top, left, top + height, left + width), body, body & (rng.random(body.shape) < 0.3)))
    expected = np.stack([paint(cells, shape, which) for which in ("cell", "nucleus")])
    rows = []
    for row in range(3):
        tiles = list(_emit(cells, row, shape))
        assert len(tiles) == 3 and all(t.dtype == np.uint32 for t in tiles)
        rows.append(np.concatenate(tiles, axis=2))
    np.testing.assert_array_equal(np.concatenate(rows, axis=1), expected)
