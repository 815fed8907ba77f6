"""Probabilities to class labels: the argmax and the nested clean-up, on hand-drawn label maps."""

import numpy as np
import pytest

from flexunet.inference.postprocess import keep_largest_component, to_labels


def one_hot(labels: list[str], classes: int = 3) -> np.ndarray:
    """Probabilities (H, W, C) whose argmax is the drawn labels ("." 0, "c" 1, "n" 2)."""
    codes = np.array([[".cn".index(ch) for ch in row] for row in labels])
    return np.eye(classes, dtype=np.float32)[codes] * 0.8 + 0.2 / classes


def drawn(labels: np.ndarray) -> list[str]:
    return ["".join(".cn"[v] for v in row) for row in labels]


CELLS = [               # a big cell without a nucleus (left, 12 px), a smaller one with a nucleus (right, 10 px)
    "cccc....cc..",
    "cccc...cnnc.",
    "cccc...cnnc.",
    "............",
]


@pytest.mark.parametrize("keep, holes, expected", [
    (False, False, CELLS),
    # the largest cell holding a nucleus, not the largest cell (which would leave no nucleus at all)
    (True, False, ["........cc..", ".......cnnc.", ".......cnnc.", "............"]),
])
def test_keep_largest_keeps_the_cell_with_its_nucleus(keep, holes, expected):
    assert drawn(to_labels(one_hot(CELLS), keep, holes)) == expected


def test_without_any_nucleus_the_largest_cell_is_kept():
    labels = ["ccc..c", "ccc..c", "......"]
    assert drawn(to_labels(one_hot(labels), True, False)) == ["ccc...", "ccc...", "......"]


def test_the_nucleus_kept_is_the_largest_inside_the_kept_cell():
    """Two nuclei in one cell (4 px and 1 px): the 1 px one becomes cytoplasm; a nucleus in a dropped
    cell goes with it."""
    labels = ["cccccc.cc", "cnnccn.cn", "cnnccc.cc"]
    assert drawn(to_labels(one_hot(labels), True, False)) == ["cccccc...", "cnnccc...", "cnnccc..."]


def test_holes_fill_nucleus_with_nucleus_and_cell_with_cytoplasm():
    labels = [".cccccc.",
              ".c.nnnc.",     # a background hole in the cell (column 2) and a cytoplasm hole in the nucleus
              ".c.ncnc.",
              ".c.nnnc.",
              ".cccccc."]
    assert drawn(to_labels(one_hot(labels), False, True)) == [".cccccc.", ".ccnnnc.", ".ccnnnc.", ".ccnnnc.",
                                                             ".cccccc."]


def test_keep_largest_component_prefers_components_holding_a_marked_pixel():
    mask = np.array([[255, 255, 255, 0, 255]], np.uint8)
    prefer = np.array([[False, False, False, False, True]])
    np.testing.assert_array_equal(keep_largest_component(mask), [[255, 255, 255, 0, 0]])
    np.testing.assert_array_equal(keep_largest_component(mask, prefer), [[0, 0, 0, 0, 255]])
    np.testing.assert_array_equal(keep_largest_component(mask, np.zeros_like(prefer)), [[255, 255, 255, 0, 0]])
