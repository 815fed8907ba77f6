"""bench.report: the README's tables from the committed results."""

import pytest

from bench import report


def fake(name: str, dice: float, overrides=(), limited=False, cells=32, training=None) -> dict:
    scores = {"pixel_dice": dice, "pixel_iou": dice / (2 - dice), "pixel_precision": 0.9,
              "pixel_recall": 0.8, "mean_dice": 0.7, "images": 13 * cells}
    return {"name": name, "headline": scores, "scores": {report.PLAIN: {**scores, "pixel_dice": 0.5}},
            "training": training or {"epochs_run": 12, "best_epoch": 7}, "train_seconds": 1800.0,
            "overrides": list(overrides), "stopped_by_time_limit": limited,
            "holdout_cells": cells, "split_seed": 2026}


@pytest.mark.parametrize("data, expected", [
    (fake("candidate_b", 0.95),
     "| 16 filters, batch 8 (shipped before the ensemble) | 12 (7) | 30 min | **0.9500** | 0.9048 | 0.9000 | 0.8000 | 0.7000 | 0.5000 |"),
    (fake("seed", 0.9, ["train.resume=True"], limited=True),
     "| seed recipe (7 levels, 31.1 M parameters) | 12 (7) (time limit) | 30 min (resumed; earlier sittings not counted) | **0.9000** "
     "| 0.8182 | 0.9000 | 0.8000 | 0.7000 | 0.5000 |"),
    (fake("ens", 0.8, training={"member_runs": [{"epochs_run": 30, "best_epoch": 14},
                                                {"epochs_run": 25, "best_epoch": 9}]}),
     "| ens | 30 (14) + 25 (9) | 30 min | **0.8000** | 0.6667 | 0.9000 | 0.8000 | 0.7000 | 0.5000 |"),
    (fake("other", 0.8), "| other | 12 (7) | 30 min | **0.8000** | 0.6667 | 0.9000 | 0.8000 | 0.7000 | 0.5000 |"),
])
def test_row(data, expected):
    assert report.row(data) == expected


def test_row_with_the_interval_over_cells():
    data = fake("other", 0.8)
    data["headline"].update(pixel_dice_ci95_low=0.7512, pixel_dice_ci95_high=0.8437)
    assert report.row(data).startswith("| other | 12 (7) | 30 min | **0.8000** (0.751–0.844) | 0.6667 |")


def test_table_explains_the_interval_only_when_a_row_has_one():
    assert "In brackets" not in report.results_table({"a": fake("a", 0.9)})
    data = fake("b", 0.9)
    data["headline"].update(pixel_dice_ci95_low=0.85, pixel_dice_ci95_high=0.93)
    last = report.results_table({"a": fake("a", 0.9), "b": data}).splitlines()[-1]
    assert last.startswith("In brackets: the 95 % interval of the pixel Dice")
    assert last.endswith("rows without one were scored before the interval was added (python -m bench.quality "
                         "--score-only adds it).")
    assert report.results_table({"b": data}).endswith("(2,000 bootstrap samples of whole cells).")


def test_table_states_the_split():
    lines = report.results_table({"a": fake("a", 0.9), "b": fake("b", 0.9)}).splitlines()
    assert lines[0] == report.HEADER and len(lines) == 6
    assert lines[-1] == ("32 held-out source cells (416 images), split seed 2026, "
                         "target = annotation (mask > 128, no blur).")


def test_results_of_different_splits_are_refused():
    with pytest.raises(SystemExit, match=r"different splits \[\(32, 2026\), \(40, 2026\)\]"):
        report.results_table({"a": fake("a", 0.9), "b": fake("b", 0.9, cells=40)})


def test_rows_follow_the_labels_then_names():
    names = ["zeta", "candidate_b", "alpha", "seed"]
    assert sorted(names, key=report.row_order) == ["seed", "candidate_b", "alpha", "zeta"]


def test_paired_difference_from_cell_counts_by_hand():
    """Two cells; the candidate finds 2 more true pixels in cell b: Dice 12/16 - 8/12 = 0.0833 (hand-computed),
    and every resample of the two cells keeps it ahead or level, so the interval is >= 0."""
    base = {"cell_counts": {"a": [2, 1, 1], "b": [2, 1, 1]}}
    cand = {"cell_counts": {"a": [2, 1, 1], "b": [4, 1, 1]}}
    d = report.paired({"base": base, "cand": cand}, "base", "cand")
    assert d["difference"] == pytest.approx(12 / 16 - 8 / 12)
    assert d["cells"] == 2 and 0 <= d["low"] <= d["difference"] <= d["high"]


def test_paired_difference_needs_the_same_cells():
    with pytest.raises(SystemExit, match="need per-cell counts of the same cells"):
        report.paired({"a": {"cell_counts": {"x": [1, 0, 0]}}, "b": {}}, "a", "b")


def test_generated_blocks_are_replaced_and_others_kept():
    text = "intro\n<!-- bench:results -->\nold\n<!-- /bench -->\n<!-- bench:other -->\nkeep\n<!-- /bench -->\n"
    assert report.rewrite(text, {"results": "new"}) == (
        "intro\n<!-- bench:results -->\nnew\n<!-- /bench -->\n<!-- bench:other -->\nkeep\n<!-- /bench -->\n")


def test_the_readme_tables_are_the_committed_results():
    """README.md's generated blocks (results, speed, demo, fields) equal what bench.report builds from
    bench/results/ (rewrite them with: python -m bench.report --write)."""
    assert report.main(["--check"]) == 0


def fields_run(dice: float, seed: int, batch: int | None = 4) -> dict:
    test = {"pixel_dice": dice, "pixel_dice_ci95_low": dice - 0.01, "pixel_dice_ci95_high": dice + 0.01,
            "keep_largest": False, "fill_holes": False, "cells_found": 50, "cells_true": 53}
    return {"settings": {"size": 512, "seed": seed}, "fields": {"counts": {"train": 30, "valid": 5, "test": 10}},
            "batch_size": batch, "epochs_run": 80, "best_epoch": 79, "test_chosen_on_validation": test,
            "test_keep_largest_true": {**test, "pixel_dice": 0.4, "cells_found": 10}}


@pytest.mark.parametrize("dice, seed, says, not_says", [
    (0.98, 1, ["**0.980** (0.970 to 0.990)", "at batch 4 (8 steps per epoch)", "The target, 0.90, is reached.",
               "These fields were not used for any choice.", "scored 0.064", "batch 4 scored 0.973"], ["not reached"]),
    (0.85, 0, ["**The target, 0.90, is not reached.**", "finds 10"], ["not used for any choice"]),
])
def test_fields_text_states_the_figure_the_batch_and_the_target(tmp_path, monkeypatch, dice, seed, says, not_says):
    import json

    (tmp_path / "fields.json").write_text(json.dumps(fields_run(dice, seed)))
    for name, earlier in (("fields_seed0_batch16", 0.064), ("fields_batch4", 0.973)):
        (tmp_path / f"{name}.json").write_text(json.dumps(fields_run(earlier, 0)))
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    text = report.fields_text()
    assert all(s in text for s in says) and not any(s in text for s in not_says)


def test_repeat_speeds_pair_each_repeat_with_the_seed_by_hand():
    train = {"runs": {"seed": [{"epoch_seconds": [60.0, 62.0]}, {"epoch_seconds": [80.0]}],
                      "toolkit": [{"epoch_seconds": [61.0, 61.0]}, {"epoch_seconds": [64.0, 96.0]}]}}
    assert report.repeat_speeds(train, "toolkit") == pytest.approx([1.0, 1.0])      # 61/61, 80/80
    train["runs"]["toolkit"][1]["epoch_seconds"] = [100.0]
    assert report.repeat_speeds(train, "toolkit") == pytest.approx([1.0, 0.8])
    assert report._per_repeat(train, "toolkit") == " (per repeat: 1.00, 0.80)"
    assert report.repeat_speeds(train, "toolkit other") == [] and report._per_repeat(train, "nothing") == ""
