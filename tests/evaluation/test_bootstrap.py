"""Cell bootstrap of pooled pixel Dice: intervals over source cells, single and paired."""

import numpy as np
import pytest

from evaluation.test_scores import row
from flexunet.evaluation.bootstrap import bootstrap_dice, cell_bootstrap_ci, cell_counts, percentile_interval
from flexunet.evaluation.scores import summarize


def test_cell_counts_sum_each_cells_images():
    counts = cell_counts([row("a", 8, 2, 0, "a1"), row("b", 1, 0, 3), row("a", 2, 0, 1, "a2")])
    assert {k: v.tolist() for k, v in counts.items()} == {"a": [10, 2, 1], "b": [1, 0, 3]}


def test_draws_cover_the_possible_pools():
    cells = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]])   # a hit, a false alarm, a miss
    # k hits among 3 cells drawn: Dice 2k / (2k + 3 - k), so 0, 1/2, 4/5 or 1
    assert set(np.round(bootstrap_dice(cells, samples=200), 6)) == {0.0, 0.5, 0.8, 1.0}


def test_paired_draws_pick_the_same_cells_for_every_model():
    base = np.array([[8, 2, 0], [5, 0, 5], [9, 1, 1]])
    better = base.copy()
    better[1] = [9, 0, 1]            # the candidate gains on the second cell only
    draws = bootstrap_dice(np.stack([base, better]), samples=4000, seed=4)
    assert draws.shape == (2, 4000)
    assert np.all(draws[1] >= draws[0])   # never behind: the same cells are drawn for both
    # ahead exactly when the second cell is drawn at least once: 1 - (2/3)^3
    assert np.mean(draws[1] > draws[0]) == pytest.approx(1 - (2 / 3) ** 3, abs=0.03)


def test_percentile_interval():
    assert percentile_interval(np.arange(101), 0.9) == pytest.approx((5.0, 95.0))


@pytest.mark.parametrize("rows, expected", [
    ([row("a", 8, 2, 0)], (16 / 18, 16 / 18)),                               # one cell: no spread
    ([row("a", 8, 2, 0), row("b", 8, 0, 2)], (16 / 18, 16 / 18)),            # equal Dice either way
    # cells A (16/18) and B (1): a sample is AA, AB, BA or BB, each a quarter of the time, so the
    # 2.5th percentile is Dice(AA) = 16/18 and the 97.5th is Dice(BB) = 1
    ([row("a", 8, 2, 0), row("b", 10, 0, 0)], (16 / 18, 1.0)),
    # a cell's copies move together: images a1 and a2 count as one cell with tp 10, fp 2 (20/22);
    # resampling images instead would give a1 a1 a1 (16/18) more than 2.5 % of the time
    ([row("a", 8, 2, 0, "a1"), row("a", 2, 0, 0, "a2"), row("b", 10, 0, 0)], (20 / 22, 1.0)),
    ([], (float("nan"), float("nan"))),
])
def test_cell_bootstrap_interval(rows, expected):
    np.testing.assert_allclose(cell_bootstrap_ci(rows), expected)


def test_cell_bootstrap_interval_brackets_the_pooled_dice_and_is_reproducible():
    rng = np.random.default_rng(3)
    rows = [row(f"c{k}", int(t), int(f), int(n)) for k, (t, f, n) in
            enumerate(rng.integers(1, 100, (30, 3)))]
    low, high = cell_bootstrap_ci(rows)
    assert low < summarize(rows)["pixel_dice"] < high
    assert cell_bootstrap_ci(rows) == (low, high)
    narrow = cell_bootstrap_ci(rows, level=0.5)
    assert low < narrow[0] < narrow[1] < high
