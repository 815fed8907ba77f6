"""flexunet.evaluation.compare: two per_image.csv files of the same cells, their paired Dice difference."""

import numpy as np
import pytest

from evaluation.test_scores import row
from flexunet.cli import compare_main
from flexunet.errors import DataError
from flexunet.evaluation.compare import paired_difference, read_per_image
from flexunet.evaluation.scores import PER_IMAGE_COLUMNS, image_scores
from flexunet.fsutil import csv_text


def write_per_image(path, rows):
    path.write_text(csv_text(rows, PER_IMAGE_COLUMNS))
    return path


def scored(cell, truth, pred, prefix=""):
    return image_scores(f"{prefix}{cell}.BMP", np.array(truth, bool), np.array(pred, bool))


def test_per_image_csv_gives_back_the_pixel_counts(tmp_path):
    rows = [scored("a", [1, 1, 1, 0, 0], [1, 1, 0, 1, 1]), scored("a", [1, 0], [1, 0], "mirrored_"),
            scored("b", [0, 0], [0, 0]), scored("c", [1, 1, 1], [0, 0, 0])]
    back = read_per_image(write_per_image(tmp_path / "per_image.csv", rows))
    assert [(r["source_cell"], r["tp"], r["fp"], r["fn"]) for r in back] == [
        ("a", 2, 2, 1), ("a", 1, 0, 0), ("b", 0, 0, 0), ("c", 0, 0, 3)]


def test_a_gain_on_every_cell_excludes_zero():
    base = [row(f"c{k}", 80, 10, 10) for k in range(20)]
    better = [row(f"c{k}", 85, 5, 5) for k in range(20)]
    result = paired_difference(base, better)
    assert result["difference"] == pytest.approx(170 / 180 - 160 / 180)
    assert result["difference_low"] == pytest.approx(result["difference"])   # no spread: same gain everywhere
    assert result["candidate_better_share"] == 1.0 and result["cells"] == 20


def test_a_model_against_itself_is_no_difference():
    rows = [row(f"c{k}", 50 + k, k % 3, 7 - k % 5) for k in range(12)]
    result = paired_difference(rows, rows)
    assert (result["difference"], result["difference_low"], result["difference_high"]) == (0.0, 0.0, 0.0)
    assert result["candidate_better_share"] == 0.0


def test_mixed_gains_and_losses_include_zero():
    base = [row(f"c{k}", 80, 10, 10) for k in range(10)]
    other = [row(f"c{k}", 85, 5, 5) if k % 2 else row(f"c{k}", 75, 15, 15) for k in range(10)]
    result = paired_difference(base, other)
    assert result["difference"] == pytest.approx(0.0)
    assert result["difference_low"] < 0 < result["difference_high"]


@pytest.mark.parametrize("base, other, message", [
    ([row("a", 1, 0, 0)], [row("b", 1, 0, 0)],
     r"expected two evaluations of the same source cells, got 2 cells in only one of them \(e.g. a, b\)"),
    ([], [row("a", 1, 0, 0)], r"expected two evaluations with images in them, got an empty per_image.csv"),
])
def test_different_cells_are_refused(base, other, message):
    with pytest.raises(DataError, match=message):
        paired_difference(base, other)


def test_file_errors_name_the_file_and_the_columns(tmp_path):
    with pytest.raises(DataError, match=r"missing.csv: no such file \(expected an evaluator's per_image.csv\)"):
        read_per_image(tmp_path / "missing.csv")
    (tmp_path / "other.csv").write_text("file,dice\nx.bmp,0.5\n")
    with pytest.raises(DataError, match=r"other.csv: expected the columns source_cell, dice, true_pixels, "
                                        r"pred_pixels of a per_image.csv, "
                                        r"missing source_cell, true_pixels, pred_pixels"):
        read_per_image(tmp_path / "other.csv")
    (tmp_path / "bad.csv").write_text("source_cell,dice,true_pixels,pred_pixels\na,0.5,4,x\n")
    with pytest.raises(DataError, match=r"bad.csv line 2: expected numbers in dice, true_pixels and pred_pixels, "
                                        r"got '0.5', '4', 'x'"):
        read_per_image(tmp_path / "bad.csv")


def test_command_line(tmp_path, capsys):
    base = write_per_image(tmp_path / "a.csv", [scored(f"c{k}", [1, 1, 1, 1], [1, 1, 1, 0]) for k in range(6)])
    best = write_per_image(tmp_path / "b.csv", [scored(f"c{k}", [1, 1, 1, 1], [1, 1, 1, 1]) for k in range(6)])
    assert compare_main([str(base), str(best)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "6 source cells, pixel Dice: baseline 0.8571, candidate 1.0000"
    assert out[1].startswith("candidate - baseline = +0.1429, 95 % interval +0.1429 to +0.1429")
    assert out[-1] == "the interval excludes 0: a real difference on these cells"
    assert compare_main([str(base), str(tmp_path / "none.csv")]) == 1
    assert "none.csv: no such file" in capsys.readouterr().err
