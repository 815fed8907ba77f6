"""Raw Herlev reader: file pairing, palette colours, skipped and unreadable files."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flexunet.errors import DataError
from flexunet.generators.herlev import BACKGROUND, CYTOPLASM, GREY, NUCLEUS, find_cells, read_cell

PALETTE = [*BACKGROUND, *CYTOPLASM, *NUCLEUS, *GREY]


def write_palette_bmp(path: Path, labels: np.ndarray) -> Path:
    """An 8-bit indexed BMP: 0 background (red), 1 cytoplasm (navy), 2 nucleus (blue), 3 grey."""
    image = Image.fromarray(labels.astype(np.uint8))
    image.putpalette(PALETTE + [0] * (768 - len(PALETTE)))
    image.save(path, format="BMP")
    return path


def write_rgb_bmp(path: Path, shape=(3, 4)) -> Path:
    Image.fromarray(np.full(shape + (3,), 200, np.uint8)).save(path, format="BMP")
    return path


LABELS = np.array([[0, 1, 2, 3],
                   [2, 2, 1, 0],
                   [3, 0, 2, 1]])


def test_palette_segmentation_is_read_by_colour_not_index(tmp_path):
    folder = tmp_path / "severe_dysplastic"
    folder.mkdir()
    write_rgb_bmp(folder / "a.BMP")
    mask_path = write_palette_bmp(folder / "a-d.bmp", LABELS)
    assert Image.open(mask_path).mode == "P"
    (cell,), _ = find_cells(tmp_path)
    image, nucleus = read_cell(cell)
    assert image.shape == (3, 4, 3) and image.dtype == np.uint8
    assert nucleus.dtype == bool
    np.testing.assert_array_equal(nucleus, LABELS == 2)


@pytest.mark.parametrize("colour, is_nucleus", [
    (NUCLEUS, True),
    (CYTOPLASM, False),
    (BACKGROUND, False),
    (GREY, False),
    ((10, 20, 255), True),
    ((0, 0, 254), False),
])
def test_nucleus_is_blue_255(tmp_path, colour, is_nucleus):
    folder = tmp_path / "carcinoma_in_situ"
    folder.mkdir()
    write_rgb_bmp(folder / "c.BMP", (2, 2))
    Image.fromarray(np.full((2, 2, 3), colour, np.uint8)).save(folder / "c-d.bmp", format="BMP")
    (cell,), _ = find_cells(tmp_path)
    assert read_cell(cell)[1].all() == is_nucleus
    assert read_cell(cell)[1].any() == is_nucleus


def test_pairs_case_insensitively_and_reports_what_it_skips(tmp_path):
    sev = tmp_path / "severe_dysplastic"
    col = tmp_path / "normal_columnar"
    for folder in (sev, col, tmp_path / "holiday_photos"):
        folder.mkdir()
    write_rgb_bmp(sev / "111-222-001.BMP")
    write_palette_bmp(sev / "111-222-001-d.bmp", LABELS)
    write_rgb_bmp(sev / "111-222-002.bmp")
    write_palette_bmp(sev / "111-222-002-D.BMP", LABELS)
    write_rgb_bmp(sev / "111-222-003.BMP")
    write_palette_bmp(sev / "111-222-004-d.bmp", LABELS)
    (sev / "Thumbs.db").write_bytes(b"\x00" * 10)
    write_rgb_bmp(col / "333-444-001.BMP")
    write_palette_bmp(col / "333-444-001-d.bmp", LABELS)

    cells, report = find_cells(tmp_path)
    assert [(c.class_name, c.stem) for c in cells] == [
        ("normal_columnar", "333-444-001"),
        ("severe_dysplastic", "111-222-001"),
        ("severe_dysplastic", "111-222-002"),
    ]
    assert [p.name for p in report.missing_masks] == ["111-222-003.BMP"]
    assert [p.name for p in report.orphan_masks] == ["111-222-004-d.bmp"]
    assert report.skipped == 2
    assert [p.name for p in report.stray_files] == ["Thumbs.db"]
    assert report.unknown_folders == ["holiday_photos"]
    notes = report.notes()
    assert any("111-222-003.BMP" in n and "111-222-003-d.bmp" in n and "skipped" in n for n in notes)
    assert any("holiday_photos" in n for n in notes)

    only, _ = find_cells(tmp_path, classes=["severe_dysplastic"])
    assert {c.class_name for c in only} == {"severe_dysplastic"}


@pytest.mark.parametrize("setup, classes, phrase", [
    ("missing", None, "found nothing"),
    ("empty", None, "found none"),
    ("severe", ["moderate_dysplastic"], "'moderate_dysplastic', not found"),
    ("severe", ["severe_dysplastics"], "expected names among"),
])
def test_bad_base_dir_or_classes_raise_one_line(tmp_path, setup, classes, phrase):
    base = tmp_path / "New database pictures"
    if setup != "missing":
        base.mkdir()
    if setup == "severe":
        (base / "severe_dysplastic").mkdir()
    with pytest.raises(DataError) as info:
        find_cells(base, classes)
    message = str(info.value)
    assert phrase in message and "\n" not in message


def test_unreadable_bmp_names_the_file(tmp_path):
    folder = tmp_path / "light_dysplastic"
    folder.mkdir()
    (folder / "broken.BMP").write_bytes(b"BM not really a bitmap")
    write_palette_bmp(folder / "broken-d.bmp", LABELS)
    (cell,), _ = find_cells(tmp_path)
    with pytest.raises(DataError, match="broken.BMP"):
        read_cell(cell)


def test_size_mismatch_names_the_segmentation(tmp_path):
    folder = tmp_path / "light_dysplastic"
    folder.mkdir()
    write_rgb_bmp(folder / "x.BMP", (5, 5))
    write_palette_bmp(folder / "x-d.bmp", LABELS)
    (cell,), _ = find_cells(tmp_path)
    with pytest.raises(DataError, match=r"x-d\.bmp: expected the size of x\.BMP \(5x5\), got 4x3"):
        read_cell(cell)
