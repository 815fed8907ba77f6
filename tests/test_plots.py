"""flexunet.plots: the per-cell overlay enlarges small images by a whole factor and keeps outlines in place."""

import numpy as np
import pytest

from flexunet import plots
from flexunet.data.instances import Cell


def square_cell(top: int, left: int, side: int) -> Cell:
    """A cell filling a side x side box at (top, left), its nucleus the middle third."""
    cell = np.ones((side, side), bool)
    nucleus = np.zeros((side, side), bool)
    nucleus[side // 3: 2 * side // 3, side // 3: 2 * side // 3] = True
    return Cell(1, (top, left, top + side, left + side), cell, nucleus)


@pytest.mark.parametrize("size, factor", [(128, 4), (100, 4), (256, 2), (300, 2), (512, 1), (900, 1)])
def test_small_images_are_enlarged_by_a_whole_factor_at_most_4(size, factor):
    out = plots.cell_overlay(np.full((size, size, 3), 200, np.uint8), [])
    assert out.shape == (size * factor, size * factor, 3)


def test_the_outline_is_drawn_where_the_cell_is_after_enlarging():
    image = np.full((128, 128, 3), 200, np.uint8)
    out = plots.cell_overlay(image, [square_cell(40, 20, 30)])
    changed = np.argwhere((out != 200).any(axis=-1))
    # the cell spans rows 40..69 and columns 20..49, x4: 160..279 and 80..199 (outline at most 2 px outside)
    assert changed[:, 0].min() >= 158 and changed[:, 0].max() <= 281
    assert changed[:, 1].min() >= 78 and changed[:, 1].max() <= 201
    assert not (out[170:270, 100] != 200).any()  # column 25 of the image: inside the cell, beside its nucleus


def test_the_label_is_written_near_the_nucleus():
    image = np.full((512, 512, 3), 200, np.uint8)
    plain = plots.cell_overlay(image, [square_cell(100, 100, 90)])
    labelled = plots.cell_overlay(image, [square_cell(100, 100, 90)], {1: "0.25"})
    rows, cols = np.nonzero((plain != labelled).any(axis=-1))
    assert len(rows) > 20 and 100 <= rows.mean() <= 190 and 100 <= cols.mean() <= 260
