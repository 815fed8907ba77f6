"""The nucleus ring is chosen on validation by the AJI of the cells it builds."""

import numpy as np
import pytest

from flexunet.data.instances import Cell
from flexunet.model.record import CellRule
from flexunet.training.cell_selection import RING_CHOICES, _cell_aji, _pick_ring, rule_text

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


def test_the_training_log_names_the_ring():
    rule = CellRule(nucleus_ring_px=8, validation=(("cell_aji", 0.91),))
    assert "outlines read from 8 px out of each nucleus (cell AJI 0.9100)" in rule_text(rule)
