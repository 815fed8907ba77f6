"""Cells from a cells head's channels, on hand-drawn probability maps: each nucleus grown to its outline."""

from dataclasses import replace

import numpy as np
import pytest

from flexunet.inference.cells import (
    ORPHAN_MIN_PX,
    build_cells,
    cell_labels,
    distance_split,
    measure_instances,
)
from flexunet.model.record import CellRule

RULE = CellRule(cell_threshold=0.5, nucleus_threshold=0.5, overlap_threshold=0.5, min_nucleus_px=0, fill_holes=False)


def channels(shape, cells=(), nuclei=(), outline=(), overlap=()) -> np.ndarray:
    """Probabilities (H, W, 4): 0.9 inside the given rectangles (top, left, bottom, right) of each channel."""
    probs = np.full(shape + (4,), 0.05, np.float32)
    for k, boxes in enumerate((cells, nuclei, outline, overlap)):
        for top, left, bottom, right in boxes:
            probs[top:bottom, left:right, k] = 0.9
    return probs


def areas(cells) -> list[tuple[int, int]]:
    return [(c.cell_area, c.nucleus_area) for c in cells]


# Two touching cells of unequal size in a 10 x 30 field: A covers columns 0-17 (18 wide), B columns 18-29
# (12 wide), both rows 1-8 (8 high). A's nucleus: rows 3-5, columns 2-4 (9 px); B's: rows 3-5, columns 24-26,
# more than the rule's nucleus_ring_px (4) from the outline, which the model sees on their shared edge, columns 17-18.
TOUCHING = channels((10, 30), cells=[(1, 0, 9, 30)], nuclei=[(3, 2, 6, 5), (3, 24, 6, 27)],
                    outline=[(1, 17, 9, 19)])


def test_two_touching_cells_of_unequal_size_part_at_their_outline():
    """Outline split: the ridge on columns 17 | 18 is crossed last, so A gets its 18 columns (144 px) and B
    its 12 (96 px) -- each side of the ridge floods from its own nucleus. A distance split cuts halfway
    between the nuclei (their facing edges are columns 4 and 24: the middle is column 14), so B takes A's
    columns 15-17 and both end near 240 / 2 = 120 px (the exact line depends on how the flood breaks ties
    in the corners)."""
    outline = build_cells(TOUCHING, RULE)
    assert areas(outline) == [(144, 9), (96, 9)]
    split = distance_split(TOUCHING[..., 1] > 0.5, TOUCHING[..., 0] > 0.5)
    assert sum(c.cell_area for c in split) == 240 and all(112 <= c.cell_area <= 128 for c in split)


def test_a_cell_whose_nucleus_was_missed_is_not_given_to_its_neighbour():
    """A field of two cells parted by an outline (column 12), the right one's nucleus missed: the right cell
    body (rows 1-8, columns 13-23: 88 px >= ORPHAN_MIN_PX) holds no nucleus, so no cell takes it; the left
    cell keeps its 8 x 12 = 96 px plus nothing more. A distance split hands all 192 px to the left nucleus."""
    probs = channels((10, 24), cells=[(1, 0, 9, 24)], nuclei=[(3, 2, 6, 5)], outline=[(1, 12, 9, 13)])
    assert 88 >= ORPHAN_MIN_PX
    (left,) = build_cells(probs, RULE)
    assert (left.cell_area, left.box) == (104, (1, 0, 9, 13))       # columns 0-12: the outline goes with it
    (only,) = distance_split(probs[..., 1] > 0.5, probs[..., 0] > 0.5)
    assert only.cell_area == 192


def test_a_speck_inside_a_cell_is_no_nucleus_and_takes_no_cytoplasm():
    """A 2 x 2 dark speck in the cytoplasm (under MIN_NUCLEUS = 5 px): one cell, all 8 x 12 = 96 px its own."""
    probs = channels((10, 12), cells=[(1, 0, 9, 12)], nuclei=[(3, 2, 6, 5), (6, 9, 8, 11)])
    (cell,) = build_cells(probs, RULE)
    assert (cell.cell_area, cell.nucleus_area) == (96, 9)
    assert [c.nucleus_area for c in build_cells(probs, RULE.__class__(min_nucleus_px=0))] == [9]


def test_min_nucleus_px_drops_small_nuclei_and_their_cells():
    probs = channels((10, 24), cells=[(1, 0, 9, 24)], nuclei=[(3, 2, 6, 5), (3, 20, 5, 22)],   # 9 and 4 px
                     outline=[(1, 17, 9, 19)])
    assert areas(build_cells(probs, RULE)) == [(192, 9)]            # 4 px: a speck, not a nucleus
    probs[3:6, 20:23, 1] = 0.9                                      # now 9 px
    assert len(build_cells(probs, RULE)) == 2
    assert len(build_cells(probs, RULE.__class__(min_nucleus_px=10))) == 0


def test_an_overlap_goes_to_both_cells():
    """Two 8 x 10 cells overlapping on columns 8-11 (rows 1-8): A columns 0-11, B columns 8-19; the outlines
    run along column 8 (A's... B's left edge) and column 11 (A's right edge); the overlap channel marks
    columns 9-10 between them (16 px). Both cells get the overlap: A = columns 0-10 at least plus the
    overlap, B = columns 9-19. Without the overlap channel each pixel has one owner and the areas sum to the
    160-px union."""
    probs = channels((10, 20), cells=[(1, 0, 9, 20)], nuclei=[(3, 2, 6, 5), (3, 15, 6, 18)],
                     outline=[(1, 8, 9, 9), (1, 11, 9, 12)], overlap=[(1, 9, 9, 11)])
    a, b = build_cells(probs, RULE)
    shared = a.full((10, 20)) & b.full((10, 20))
    assert shared.sum() == 16 and shared[1:9, 9:11].all()
    assert a.cell_area + b.cell_area == 160 + 16
    no_overlap = probs.copy()
    no_overlap[..., 3] = 0.0
    a, b = build_cells(no_overlap, RULE)
    assert a.cell_area + b.cell_area == 160 and not (a.full((10, 20)) & b.full((10, 20))).any()


def test_cell_labels_and_measures_of_built_cells():
    cells = build_cells(TOUCHING, RULE)
    labels = cell_labels(cells, (10, 30))
    assert (labels == 2).sum() == 18 and (labels == 1).sum() == 240 - 18
    rows = measure_instances(cells, np.zeros((10, 30), np.uint8), pixel_size_um=0.5, name="f.png")
    assert [r["cell"] for r in rows] == [1, 2]
    a, b = rows
    assert (a["nucleus_area_px"], a["cytoplasm_area_px"], a["cell_area_px"]) == (9.0, 135.0, 144.0)
    assert a["nc_ratio"] == pytest.approx(9 / 135) and b["nc_ratio"] == pytest.approx(9 / 87)
    assert a["cell_area_um2"] == pytest.approx(36.0) and a["overlap_area_px"] == 0.0


def test_the_rule_says_how_cells_split_and_an_explicit_split_overrides_it():
    """A rule whose validation chose the distance split builds what distance_split builds from the same
    channels; split="outline" given explicitly still parts the cells at their outline (144 and 96 px)."""
    rule = replace(RULE, cell_split="distance")
    by_rule = build_cells(TOUCHING, rule)
    by_distance = distance_split(TOUCHING[..., 1] > 0.5, TOUCHING[..., 0] > 0.5)
    assert areas(by_rule) == areas(by_distance) and areas(by_rule) != [(144, 9), (96, 9)]
    assert areas(build_cells(TOUCHING, rule, split="outline")) == [(144, 9), (96, 9)]


def test_an_unknown_split_is_refused_with_the_choices():
    rule = replace(RULE, cell_split="nearest")
    with pytest.raises(ValueError, match="cell split: expected one of outline, distance, got 'nearest'"):
        build_cells(TOUCHING, rule)
