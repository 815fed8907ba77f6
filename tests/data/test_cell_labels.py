"""Cell label images: the toolkit's 2-plane TIFF round trip and overlap rule, users' 2-D and 3-D label images
with a nucleus mask, and one DataError per kind of bad file."""

import re

import numpy as np
import pytest
import tifffile
from PIL import Image

from flexunet.data.cell_labels import paint_nearest, read_cell_labels, write_cell_labels
from flexunet.data.instances import Cell, cell_from_masks
from flexunet.errors import DataError


def art(*rows: str) -> tuple[np.ndarray, np.ndarray]:
    """(cell, nucleus) masks of a picture: '.' outside, '#' cell, 'N' nucleus (part of the cell)."""
    grid = np.array([list(r) for r in rows])
    return grid != ".", grid == "N"


def same_cells(got: list[Cell], expected: list[Cell]) -> None:
    assert [c.id for c in got] == [c.id for c in expected]
    for g, e in zip(got, expected):
        assert g.box == e.box, g.id
        np.testing.assert_array_equal(g.cell, e.cell)
        np.testing.assert_array_equal(g.nucleus, e.nucleus)


APART = [cell_from_masks(3, *art("###...",
                                 "#N#...",
                                 "###...",
                                 "......")),
         cell_from_masks(9, *art("......",
                                 "....NN",
                                 "....##",
                                 "....##"))]


def test_own_tiff_round_trip_and_layout(tmp_path):
    write_cell_labels(tmp_path / "c.tif", APART, (4, 6))
    same_cells(read_cell_labels(tmp_path / "c.tif", (4, 6)), APART)
    with tifffile.TiffFile(tmp_path / "c.tif") as tif:
        planes = tif.asarray()
        assert tif.series[0].axes == "CYX" and tif.pages[0].compression.name == "ADOBE_DEFLATE"
        assert tif.shaped_metadata[0]["flexunet"] == "cell-labels"
    np.testing.assert_array_equal(planes, [[[3, 3, 3, 0, 0, 0],
                                            [3, 3, 3, 0, 9, 9],
                                            [3, 3, 3, 0, 9, 9],
                                            [0, 0, 0, 0, 9, 9]],
                                           [[0, 0, 0, 0, 0, 0],
                                            [0, 3, 0, 0, 9, 9],
                                            [0, 0, 0, 0, 0, 0],
                                            [0, 0, 0, 0, 0, 0]]])


@pytest.mark.parametrize("top_id, dtype", [(2, np.uint16), (65535, np.uint16), (65536, np.uint32),
                                           (4_000_000_000, np.uint32)])
def test_ids_choose_the_dtype(tmp_path, top_id, dtype):
    cells = [APART[0].shifted(0, 0, new_id=1), APART[1].shifted(0, 0, new_id=top_id)]
    write_cell_labels(tmp_path / "c.tif", cells, (4, 6))
    assert tifffile.imread(tmp_path / "c.tif").dtype == dtype
    assert [c.id for c in read_cell_labels(tmp_path / "c.tif")] == sorted(c.id for c in cells)


# One row: cell 1 spans columns 0-4 with its nucleus at 0, cell 2 columns 2-6 with its nucleus at 6. Column 2
# is 2 from nucleus 1 and 4 from nucleus 2 (cell 1), column 3 is 3 from both (a tie: the earlier, cell 1),
# column 4 is 4 from nucleus 1 and 2 from nucleus 2 (cell 2).
OVERLAP = [cell_from_masks(1, *art("N####..")), cell_from_masks(2, *art("..####N"))]


def test_overlapped_pixels_go_to_the_nearest_nucleus(tmp_path):
    np.testing.assert_array_equal(paint_nearest(OVERLAP, (1, 7)), [[[1, 1, 1, 1, 2, 2, 2]],
                                                                   [[1, 0, 0, 0, 0, 0, 2]]])
    write_cell_labels(tmp_path / "o.tif", OVERLAP, (1, 7))
    same_cells(read_cell_labels(tmp_path / "o.tif", (1, 7)), [cell_from_masks(1, *art("N###...")),
                                                             cell_from_masks(2, *art("....##N"))])


def test_a_cell_without_nucleus_takes_only_free_pixels():
    cells = [Cell(1, (0, 0, 1, 4), np.ones((1, 4), bool), np.zeros((1, 4), bool)),
             cell_from_masks(2, *art("..#N"))]
    np.testing.assert_array_equal(paint_nearest(cells, (1, 4))[0], [[1, 1, 2, 2]])


USER_LABELS = np.array([[300, 300, 0, 1000],
                        [300, 300, 0, 1000],
                        [0, 0, 0, 1000]], np.uint16)
USER_NUCLEI = np.array([[1, 0, 0, 0],
                        [0, 0, 0, 1],
                        [0, 0, 1, 0]], bool)   # the last pixel lies in no cell and is ignored


EIGHT_BIT = np.select([USER_LABELS == 300, USER_LABELS == 1000], [1, 2]).astype(np.uint8)


@pytest.mark.parametrize("name, labels, save", [
    ("l.png", USER_LABELS, lambda path, a: Image.fromarray(a).save(path)),   # 16-bit grey PNG (mode I;16)
    ("l.tif", USER_LABELS, lambda path, a: tifffile.imwrite(path, a)),
    ("l8.png", EIGHT_BIT, lambda path, a: Image.fromarray(a).save(path)),
])
def test_user_2d_label_image_with_nucleus_mask(tmp_path, name, labels, save):
    save(tmp_path / name, labels)
    first, second = np.unique(labels)[1:]
    same_cells(read_cell_labels(tmp_path / name, (3, 4), USER_NUCLEI),
               [Cell(first, (0, 0, 2, 2), np.ones((2, 2), bool), np.array([[1, 0], [0, 0]], bool)),
                Cell(second, (0, 3, 3, 4), np.ones((3, 1), bool), np.array([[0], [1], [0]], bool))])


def test_user_layers_hold_overlapping_cells(tmp_path):
    layers = np.array([[[1, 1, 1, 0],
                        [1, 1, 1, 0]],
                       [[0, 0, 2, 2],
                        [0, 0, 2, 2]]], np.uint16)   # cell 2 lies under cell 1 in column 2
    tifffile.imwrite(tmp_path / "layers.tif", layers)
    nuclei = np.array([[1, 0, 0, 0],
                       [0, 0, 0, 1]], bool)
    got = read_cell_labels(tmp_path / "layers.tif", (2, 4), nuclei)
    same_cells(got, [Cell(1, (0, 0, 2, 3), np.ones((2, 3), bool), np.array([[1, 0, 0], [0, 0, 0]], bool)),
                     Cell(2, (0, 2, 2, 4), np.ones((2, 2), bool), np.array([[0, 0], [0, 1]], bool))])


def test_cells_without_nucleus_read_when_allowed(tmp_path):
    tifffile.imwrite(tmp_path / "l.tif", USER_LABELS)
    got = read_cell_labels(tmp_path / "l.tif", require_nucleus=False)
    assert [(c.id, c.cell_area, c.nucleus_area) for c in got] == [(300, 4, 0), (1000, 3, 0)]


def write_own(path, cells_plane, nuclei_plane) -> None:
    tifffile.imwrite(path, np.array([cells_plane, nuclei_plane], np.uint16), photometric="minisblack",
                     metadata={"axes": "CYX", "flexunet": "cell-labels"})


def without_nucleus(path):
    write_cell_labels(path, [APART[0], Cell(9, APART[1].box, APART[1].cell, np.zeros_like(APART[1].cell))], (4, 6))


# name: (file name, write the file, read_cell_labels keyword arguments, message after "cell labels <path>: ")
ERRORS = {
    "own shape differs": ("c.tif", lambda p: write_cell_labels(p, APART, (4, 6)), {"shape": (5, 6)},
                          r"expected shape \(2, H, W\) with \(H, W\) = \(5, 6\), found \(2, 4, 6\)"),
    "user shape differs": ("l.tif", lambda p: tifffile.imwrite(p, USER_LABELS), {"shape": (4, 4)},
                           r"expected shape \(H, W\) or \(L, H, W\) with \(H, W\) = \(4, 4\), found \(3, 4\)"),
    "own cell without nucleus": ("c.tif", without_nucleus, {},
                                 r"cell 9 has no nucleus pixel \(expected its id in the nuclei plane\)"),
    "user cell without nucleus": ("l.tif", lambda p: tifffile.imwrite(p, USER_LABELS),
                                  {"nucleus": np.eye(3, 4, dtype=bool)},
                                  r"cell 1000 has no nucleus pixel \(expected part of the nucleus mask inside it\)"),
    "nucleus without cell": ("c.tif", lambda p: write_own(p, [[3, 3], [0, 0]], [[3, 0], [0, 5]]), {},
                             r"nucleus 5 has no cell \(its id is in the nuclei plane, not in the cells plane\)"),
    "negative ids": ("n.tif", lambda p: tifffile.imwrite(p, np.array([[1, -1]], np.int16)), {},
                     r"expected cell ids of 0 or more, found -1"),
    "float ids": ("f.tif", lambda p: tifffile.imwrite(p, np.array([[1.0, 2.5]], np.float32)), {},
                  r"expected whole-number cell ids, found float32 values"),
    "colour PNG": ("c.png", lambda p: Image.new("RGB", (4, 3)).save(p), {},
                   r"expected a grey label image \(one id per pixel\), found mode RGB"),
    "broken TIFF": ("b.tif", lambda p: p.write_bytes(b"II*\x00garbage"), {}, r"cannot be read \("),
    "broken PNG": ("b.png", lambda p: p.write_bytes(b"\x89PNG garbage"), {}, r"cannot be read \("),
    "missing file": ("gone.tif", lambda p: None, {}, r"file not found"),
    "no nucleus mask": ("l.tif", lambda p: tifffile.imwrite(p, USER_LABELS), {},
                        r"a label image of one id per cell needs the nucleus mask"),
    "nucleus mask size": ("l.tif", lambda p: tifffile.imwrite(p, USER_LABELS), {"nucleus": np.ones((3, 3), bool)},
                          r"the nucleus mask is \(3, 3\), expected \(3, 4\) like the label image"),
    "four dimensions": ("4d.tif",
                        lambda p: tifffile.imwrite(p, np.ones((2, 2, 3, 4), np.uint16), photometric="minisblack"), {},
                        r"expected shape \(H, W\) or \(L, H, W\), found \(2, 2, 3, 4\)"),
}


@pytest.mark.parametrize("name", ERRORS)
def test_bad_label_image_raises_one_line_naming_file(tmp_path, name):
    file_name, write, kwargs, message = ERRORS[name]
    path = tmp_path / file_name
    write(path)
    with pytest.raises(DataError, match=f"^cell labels {re.escape(str(path))}: {message}") as caught:
        read_cell_labels(path, **kwargs)
    assert "\n" not in str(caught.value)
