"""bench.quality: a grouped hold-out run end to end on tiny data, scoring it again, and its results file."""

import json
import shlex
from pathlib import Path

import pytest

from bench import quality
from flexunet.data.pairs import source_cell_id
from flexunet.evaluation.compare import read_per_image
from flexunet.evaluation.scores import dice_from_counts
from flexunet.provenance import Provenance, result_problems

SCORES = ("pixel_dice", "pixel_iou", "mean_dice", "pixel_dice_ci95_low", "pixel_dice_ci95_high", "threshold")


def cells_in(folder: Path) -> set:
    return {source_cell_id(p.name) for p in folder.iterdir()}


def test_a_run_holds_out_whole_cells_and_rescoring_keeps_its_training_record(
        tmp_path, tiny_dataset, write_config, tiny_model_section):
    recipe = write_config(tmp_path, name="recipe.config", model=tiny_model_section(),
                          train={"epochs": 1, "batch_size": 4, "patience": 0, "validation": '"grouped"',
                                 "validation_split": 0.25},
                          postprocess={"tta": True, "keep_largest": True, "fill_holes": True})
    work, out = tmp_path / "work", tmp_path / "quality.json"
    args = ["--recipe", str(recipe), "--name", "tiny", "--data", str(tiny_dataset.root), "--holdout", "2",
            "--workdir", str(work), "--out", str(out)]
    assert quality.main(args) == 0
    first = json.loads(out.read_text())["tiny"]
    assert first["provenance"]["command"] == shlex.join(["python", "-m", "bench.quality", *args])
    assert result_problems(first) == [] and "training_provenance" not in first
    held = cells_in(work / "split" / "test" / "images")
    assert len(held) == 2 and not held & cells_in(work / "split" / "train" / "images")
    h = first["headline"]
    assert (h["images"], h["source_cells"]) == (8, 2)
    assert h["pixel_dice_ci95_low"] <= h["pixel_dice"] <= h["pixel_dice_ci95_high"]
    rows = read_per_image(work / "holdout_per_image.csv")
    assert len(rows) == 8 and {r["source_cell"] for r in rows} == held
    pooled = [sum(r[k] for r in rows) for k in ("tp", "fp", "fn")]
    assert dice_from_counts(*pooled) == pytest.approx(h["pixel_dice"])
    assert set(first["cell_counts"]) == held
    assert [sum(c[k] for c in first["cell_counts"].values()) for k in range(3)] == pooled

    first["train_seconds"] = 1234.5
    out.write_text(json.dumps({"tiny": first, "other": {"name": "other"}}))
    assert quality.main([*args, "--score-only"]) == 0
    both = json.loads(out.read_text())
    again = both["tiny"]
    assert both["other"] == {"name": "other"}
    assert again["train_seconds"] == 1234.5 and again["training"] == first["training"]
    assert "rescored" in again and again["training_provenance"] == first["provenance"]
    assert again["provenance"]["command"].endswith(" --score-only") and result_problems(again) == []
    assert {k: again["headline"][k] for k in SCORES} == pytest.approx({k: h[k] for k in SCORES})


def test_score_only_needs_an_earlier_run(tmp_path, capsys):
    args = ["--recipe", "unused.config", "--name", "none", "--workdir", str(tmp_path),
            "--out", str(tmp_path / "quality.json"), "--score-only"]
    assert quality.main(args) == 1
    assert "--score-only needs an earlier run" in capsys.readouterr().err


def record(command: str) -> Provenance:
    return Provenance(commit="0" * 40, dirty=False, command=command, timestamp="2026-12-01T10:00:00+00:00",
                      versions={"python": "3.11.7"}, cpu_model="Xeon", usable_cores=2, backend="tensorflow")


def test_each_entry_carries_its_own_provenance_and_the_file_is_replaced_whole(tmp_path):
    out = tmp_path / "quality.json"
    quality.save_result(out, "b", {"name": "b", "dice": 0.9}, record("python -m bench.quality --name b"))
    quality.save_result(out, "a", {"name": "a", "dice": 0.8}, record("python -m bench.quality --name a"))
    quality.save_result(out, "b", {"name": "b", "dice": 0.7}, record("python -m bench.quality --name b --set x=1"))
    data = json.loads(out.read_text())
    assert list(data) == ["a", "b"] and data["b"]["dice"] == 0.7
    assert [data[n]["provenance"]["command"] for n in data] == ["python -m bench.quality --name a",
                                                                "python -m bench.quality --name b --set x=1"]
    assert [p.name for p in tmp_path.iterdir()] == ["quality.json"]
