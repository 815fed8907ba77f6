"""bench/report.py: the README results table from quality JSONs."""

import importlib.util
import json
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("bench_report", Path(__file__).resolve().parents[1] / "bench" / "report.py")
report = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(report)


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


def test_table_explains_the_interval_only_when_a_row_has_one(tmp_path):
    (tmp_path / "quality_a.json").write_text(json.dumps(fake("a", 0.9)))
    assert "In brackets" not in report.table([tmp_path / "quality_a.json"])
    data = fake("b", 0.9)
    data["headline"].update(pixel_dice_ci95_low=0.85, pixel_dice_ci95_high=0.93)
    (tmp_path / "quality_b.json").write_text(json.dumps(data))
    last = report.table(sorted(tmp_path.glob("*.json"))).splitlines()[-1]
    assert last.startswith("In brackets: the 95 % interval of the pixel Dice")
    assert last.endswith("rows without one were scored before the interval was added (bench/quality.py "
                         "--score-only adds it).")
    assert report.table([tmp_path / "quality_b.json"]).endswith("(2,000 bootstrap samples of whole cells).")


def test_table_states_the_split(tmp_path):
    paths = []
    for name in ("a", "b"):
        paths.append(tmp_path / f"quality_{name}.json")
        paths[-1].write_text(json.dumps(fake(name, 0.9)))
    lines = report.table(paths).splitlines()
    assert lines[0] == report.HEADER and len(lines) == 6
    assert lines[-1] == ("32 held-out source cells (416 images), split seed 2026, "
                         "target = annotation (mask > 128, no blur).")


def test_results_of_different_splits_are_refused(tmp_path):
    (tmp_path / "quality_a.json").write_text(json.dumps(fake("a", 0.9)))
    (tmp_path / "quality_b.json").write_text(json.dumps(fake("b", 0.9, cells=40)))
    with pytest.raises(SystemExit, match=r"different splits \[\(32, 2026\), \(40, 2026\)\]"):
        report.table(sorted(tmp_path.glob("*.json")))


def test_rows_follow_the_labels_then_names():
    names = ["quality_zeta.json", "quality_candidate_b.json", "quality_alpha.json", "quality_seed.json"]
    assert [p.name for p in sorted(map(Path, names), key=report.row_order)] == [
        "quality_seed.json", "quality_candidate_b.json", "quality_alpha.json", "quality_zeta.json"]
