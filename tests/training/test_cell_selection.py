"""The nucleus ring and the cell split are chosen on validation by the AJI of the cells they build."""

from dataclasses import replace

import numpy as np
import pytest

from flexunet.data.instances import Cell
from flexunet.model.record import CellRule
from flexunet.training.cell_selection import RING_CHOICES, _cell_aji, _pick_ring, _pick_split, rule_text

SIZE = 40


def one_cell(spurious: tuple[int, int] | None) -> tuple[np.ndarray, Cell]:
    """Probabilities (SIZE, SIZE, 4) of one cell (rows and columns 4-35) with a 6 x 6 nucleus at its centre,
    its outline on its edge, and, with `spurious` = (near, far), an outline the nucleus's edge makes at
    4-connected distances near..far from the nucleus; and the true cell."""
    body = np.zeros((SIZE, SIZE), bool)
    body[4:36, 4:36] = True
    nucleus = np.zeros_like(body)
    nucleus[17:23, 17:23] = True
    rows, cols = np.mgrid[:SIZE, :SIZE]
    distance = np.maximum(np.maximum(17 - rows, rows - 22), 0) + np.maximum(np.maximum(17 - cols, cols - 22), 0)
    outline = body & ~np.pad(np.ones((30, 30), bool), 5)  # the cell's own edge, 1 px wide
    if spurious:
        outline |= (distance >= spurious[0]) & (distance <= spurious[1])
    probs = np.stack([body, nucleus, outline & body, np.zeros_like(body)], -1).astype(np.float32)
    return probs, Cell(1, (4, 4, 36, 36), body[4:36, 4:36], nucleus[4:36, 4:36])


RULE = CellRule(fill_holes=False)


@pytest.mark.parametrize("spurious, ring", [
    (None, 2),      # nothing around the nucleus: every ring builds the whole cell, the narrowest wins the tie
    ((3, 4), 4),    # an outline 3-4 px out cuts the cell at rings 2: 4 is the narrowest that reads past it
    ((5, 6), 6),
    ((7, 9), 12),   # 8 still sees the outline's outer pixel (9 px out)
])
def test_the_narrowest_ring_that_builds_the_whole_cell_is_chosen(spurious, ring):
    probs, truth = one_cell(spurious)
    chosen, aji = _pick_ring([probs], [[truth]], RULE)
    assert chosen == ring and ring in RING_CHOICES
    assert aji == pytest.approx(1.0)


def test_a_ring_inside_the_spurious_outline_keeps_only_the_nucleus_side():
    probs, truth = one_cell((5, 6))
    # ring 4: the cell is what lies within 6 px of the nucleus (the 6 x 6 nucleus grown by 6, 4-connected):
    # 36 + 4 * 6 * 6 (beside its sides) + 4 * (1 + 2 + 3 + 4 + 5) (off its corners) = 240 of the true 32 x 32
    assert _cell_aji([probs], [[truth]], CellRule(fill_holes=False, nucleus_ring_px=4)) == pytest.approx(240 / 1024)


def test_the_training_log_names_the_ring_and_the_split():
    rule = CellRule(nucleus_ring_px=8, cell_split="distance",
                    validation=(("cell_aji", 0.93), ("cell_aji_outline_split", 0.91)))
    assert "outlines read from 8 px out of each nucleus (cell AJI 0.9100), cells split by distance (cell AJI " \
           "0.9300)" in rule_text(rule)


def strip(width: int, boxes: list[tuple[int, int]], nuclei: list[int], outline: list[int]) -> tuple:
    """Probabilities (10, width, 4) of cells side by side on rows 1-8, each (left, right) column range of
    `boxes` one true cell with a 3 x 3 nucleus (rows 3-5) from the column in `nuclei`, and the outline
    channel on the columns in `outline`; and the true cells."""
    probs = np.zeros((10, width, 4), np.float32)
    probs[1:9, :, 0] = 1.0
    for c in outline:
        probs[1:9, c, 2] = 1.0
    truth = []
    for k, ((left, right), n) in enumerate(zip(boxes, nuclei), 1):
        probs[3:6, n:n + 3, 1] = 1.0
        body = np.zeros((8, right - left), bool)
        body[:] = True
        nucleus = np.zeros_like(body)
        nucleus[2:5, n - left:n - left + 3] = True
        truth.append(Cell(k, (1, left, 9, right), body, nucleus))
    return probs, truth


NARROW = replace(RULE, nucleus_ring_px=2)


def test_cells_parted_by_their_outline_keep_the_outline_split():
    """Two touching cells of 18 and 12 columns, the outline on their shared edge (columns 17 | 18): the outline
    split builds both exactly (AJI 1); by distance the cut falls near the middle of their nuclei (columns
    2-4 and 24-26), taking A's columns 15-17 into B, so AJI < 1."""
    probs, truth = strip(30, [(0, 18), (18, 30)], [2, 24], [17, 18])
    assert _cell_aji([probs], [truth], NARROW) == pytest.approx(1.0)
    assert _cell_aji([probs], [truth], replace(NARROW, cell_split="distance")) < 0.9
    assert _pick_split([probs], [truth], NARROW) == ("outline", pytest.approx(1.0))


def test_an_outline_the_model_draws_across_a_cell_turns_the_split_to_distance():
    """One cell (rows 1-8, columns 0-29: 240 px, nucleus at columns 2-4) with a spurious outline on column 14:
    its far side (columns 15-29, 120 px) reaches no nucleus, so the outline split leaves it to nobody and
    the cell is columns 0-14 (120 px): AJI 120 / 240. By distance the one nucleus takes the whole region:
    AJI 1, so distance is chosen."""
    probs, truth = strip(30, [(0, 30)], [2], [14])
    assert _cell_aji([probs], [truth], NARROW) == pytest.approx(120 / 240)
    assert _pick_split([probs], [truth], NARROW) == ("distance", pytest.approx(1.0))


def test_a_tie_keeps_the_outline_split():
    probs, truth = strip(20, [(0, 20)], [8], [])
    assert _pick_split([probs], [truth], NARROW) == ("outline", pytest.approx(1.0))


def test_a_record_from_before_the_split_was_chosen_reads_its_aji_as_the_outline_splits():
    rule = CellRule(nucleus_ring_px=8, validation=(("cell_aji", 0.91),))
    assert "out of each nucleus (cell AJI 0.9100), cells split at their outlines (cell AJI 0.9100)" in rule_text(rule)
