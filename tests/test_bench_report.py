"""bench.report and bench.findings: the documents' measured text from the committed results, and --check."""

import json
import shutil
from pathlib import Path

import pytest

from bench import findings, report
from flexunet.cli.demo_report import images_of_cells
from flexunet.model.record import ModelRecord, TrainingRun

RECOVERED = {"commit": "ece1d31e8d28d86b9bdd3fd94b2901374beb5eb9", "dirty": None, "command": "python -m bench.x",
             "timestamp": "2026-11-30T06:25:39+00:00", "versions": {"python": "3.11.7"}, "cpu_model": None,
             "usable_cores": 2, "backend": "tensorflow", "recovered": "rebuilt from git history",
             "unrecorded": ["dirty", "cpu_model"]}
RECORDED = {**RECOVERED, "commit": "abcdef1234567890abcdef1234567890abcdef12", "dirty": True,
            "timestamp": "2026-12-01T10:00:00+01:00", "cpu_model": "Xeon", "recovered": None, "unrecorded": []}


def write(folder: Path, name: str, data: dict, command: str = "python -m bench.x", base: dict = RECOVERED) -> None:
    """bench/results/<name>.json in `folder`, with the provenance record `base` naming `command`."""
    (folder / f"{name}.json").write_text(json.dumps({**data, "provenance": {**base, "command": command}}))


def fake(name: str, dice: float, overrides=(), limited=False, cells=32, training=None) -> dict:
    scores = {"pixel_dice": dice, "pixel_iou": dice / (2 - dice), "pixel_precision": 0.9,
              "pixel_recall": 0.8, "mean_dice": 0.7, "images": 13 * cells}
    return {"name": name, "headline": scores, "scores": {report.PLAIN: {**scores, "pixel_dice": 0.5}},
            "training": training or {"epochs_run": 12, "best_epoch": 7}, "train_seconds": 1800.0,
            "overrides": list(overrides), "stopped_by_time_limit": limited,
            "holdout_cells": cells, "split_seed": 2026}


@pytest.mark.parametrize("data, expected", [
    (fake("candidate_b", 0.95),
     "| 16 filters, batch 8 (shipped before the ensemble) | 12 (7) | 30 min | **0.9500** | 0.9048 | 0.9000 | 0.8000 "
     "| 0.7000 | 0.5000 |"),
    (fake("seed", 0.9, ["train.resume=True"], limited=True),
     "| seed recipe (7 levels, 31.1 M parameters) | 12 (7) (time limit) "
     "| 30 min (resumed; earlier sittings not counted) | **0.9000** "
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
            "training": ModelRecord(run=TrainingRun(epochs_run=80, best_epoch=79, batch_size=batch)).to_dict(),
            "test_chosen_on_validation": test,
            "test_keep_largest_true": {**test, "pixel_dice": 0.4, "cells_found": 10}}


@pytest.mark.parametrize("dice, seed, says, not_says", [
    (0.98, 1, ["**0.980** (0.970 to 0.990)", "at batch 4 (8 steps per epoch)", "The target, 0.90, is reached.",
               "These fields were not used for any choice.", "batch 16 trained 2 steps per epoch and scored 0.064",
               "batch 4 scored 0.973", "at least 8 steps per epoch", "Measured by `python -m bench.fields --seed 1` "
               "(bench/results/fields.json, commit ece1d31 (2026-11-30) †)", report.RECOVERED], ["not reached"]),
    (0.85, 0, ["**The target, 0.90, is not reached.**", "finds 10"], ["not used for any choice"]),
])
def test_fields_text_states_the_figure_the_batch_and_the_target(tmp_path, dice, seed, says, not_says):
    write(tmp_path, "fields", fields_run(dice, seed), f"python -m bench.fields --seed {seed}")
    for name, earlier in (("fields_seed0_batch16", 0.064), ("fields_batch4", 0.973)):
        write(tmp_path, name, fields_run(earlier, 0, batch=None))
    text = report.fields_text(tmp_path)
    assert all(s in text for s in says) and not any(s in text for s in not_says)


def test_repeat_speeds_pair_each_repeat_with_the_seed_by_hand():
    train = {"runs": {"seed": [{"epoch_seconds": [60.0, 62.0]}, {"epoch_seconds": [80.0]}],
                      "toolkit": [{"epoch_seconds": [61.0, 61.0]}, {"epoch_seconds": [64.0, 96.0]}]}}
    assert report.repeat_speeds(train, "toolkit") == pytest.approx([1.0, 1.0])      # 61/61, 80/80
    train["runs"]["toolkit"][1]["epoch_seconds"] = [100.0]
    assert report.repeat_speeds(train, "toolkit") == pytest.approx([1.0, 0.8])
    assert report._per_repeat(train, "toolkit") == " (per repeat: 1.00, 0.80)"
    assert report.repeat_speeds(train, "toolkit other") == [] and report._per_repeat(train, "nothing") == ""


def speed_results(folder: Path, confirm: bool = True) -> None:
    """train.json: seed 60 s, toolkit 50 s, without determinism 40 s (medians); two repeats of 60 s, 60 s (seed),
    50 s, 60 s (toolkit), 40 s, 48 s (without); infer.json: bare predict 10 ms, toolkit 10.5 ms;
    train_confirm.json: seed 60 s, toolkit 48 s, no repeats recorded."""
    variant = "toolkit train.deterministic=False"
    epochs = {"seed": {"median": 60.0}, "toolkit": {"median": 50.0}, variant: {"median": 40.0}}
    runs = {"seed": [{"epoch_seconds": [60.0]}] * 2, "toolkit": [{"epoch_seconds": [50.0]}, {"epoch_seconds": [60.0]}],
            variant: [{"epoch_seconds": [40.0]}, {"epoch_seconds": [48.0]}]}
    write(folder, "train", {"epoch_seconds": epochs, "runs": runs, "settings": {"cells": 60}},
          "python -m bench.train --variant train.deterministic=False")
    if confirm:
        write(folder, "train_confirm", {"epoch_seconds": {"seed": {"median": 60.0}, "toolkit": {"median": 48.0}},
                                        "runs": {}}, "python -m bench.train --out c.json", RECORDED)
    write(folder, "infer", {"ms_per_image": {"bare predict batch 64": 10.0,
                                             "seed API: infer() after load_model()": 10.5,
                                             "toolkit masks only": 10.2}, "best_bare_batch": 64,
                            "settings": {"tiled_images": 15, "overlap": 32, "tiles": 18}, "tiled_over_bare_tiles": 0.9},
          "python -m bench.infer")


@pytest.mark.parametrize("confirm, expected", [
    (True, "- **Fast**: training at the seed's config at 1.20× the speed of the seed's own code (median epoch; a "
           "second run: 1.25×), inference at 1.05× the time of a bare `model.predict` (both measured side by side, "
           "see Speed)."),
    (False, "- **Fast**: training at the seed's config at 1.20× the speed of the seed's own code (median epoch), "
            "inference at 1.05× the time of a bare `model.predict` (both measured side by side, see Speed)."),
])
def test_fast_text_by_hand(tmp_path, confirm, expected):
    speed_results(tmp_path, confirm)
    assert report.fast_text(tmp_path) == expected


def test_training_text_by_hand(tmp_path):
    """Medians 60/50 = 1.20, 60/40 = 1.50, 60/48 = 1.25; per repeat 60/50, 60/60 = 1.20, 1.00 and 60/40, 60/48 =
    1.50, 1.25."""
    speed_results(tmp_path)
    assert report.training_text(tmp_path) == (
        "With the seed's config the toolkit's epoch runs at 1.20× the seed's own speed (median epoch after the "
        "first; 1.00× to 1.20× per interleaved repeat; `python -m bench.train --variant train.deterministic=False`, "
        "bench/results/train.json, commit ece1d31 (2026-11-30) †); a second run of the same benchmark without the "
        "variant (`python -m bench.train --out c.json`, commit abcdef1 (2026-12-01, uncommitted changes)) measured "
        "1.25× (no per-repeat record).\n\nTensorFlow op determinism (`[train] deterministic = True`, the default: the "
        "same seed gives the same weights) is measured against `deterministic = False` in the first run: a median "
        "epoch of 50.0 s with it and 40.0 s without, 1.20× and 1.50× the seed's speed (per repeat 1.20, 1.00 with it "
        f"and 1.50, 1.25 without).\n\n{report.RECOVERED}")


def test_speed_table_names_each_file_s_command_commit_and_machine(tmp_path):
    speed_results(tmp_path)
    lines = report.speed_table(tmp_path).splitlines()
    assert lines[2].startswith("| training epoch, the seed's own config and code, 60 source cells, batch 4 ")
    assert "| 1.200x the seed's speed (per repeat: 1.20, 1.00) | bench/results/train.json |" in lines[2]
    assert ("- bench/results/infer.json: `python -m bench.infer`, commit ece1d31 (2026-11-30) †, 2 cores of an "
            "unrecorded CPU, tensorflow backend") in lines
    assert lines[-1] == report.RECOVERED


@pytest.mark.parametrize("provenance, expected", [
    (RECOVERED, "commit ece1d31 (2026-11-30) †"),
    (RECORDED, "commit abcdef1 (2026-12-01, uncommitted changes)"),
    ({**RECORDED, "dirty": False}, "commit abcdef1 (2026-12-01)"),
    ({**RECORDED, "commit": None}, "no commit recorded"),
])
def test_origin(provenance, expected):
    assert report.origin({"provenance": provenance}) == expected


@pytest.mark.parametrize("images, cells, expected", [
    (91, 7, "91 images of 7 held-out source cells (13 copies each)"),
    (10, 3, "10 images of 3 held-out source cells (3.3 images per cell)"),
])
def test_images_of_cells_says_which_are_copies(images, cells, expected):
    assert images_of_cells({"images": float(images), "source_cells": float(cells)}) == expected


def test_demo_text_states_source_cells_not_copies(tmp_path):
    classes = {"images": 91.0, "source_cells": 7.0, "pixel_dice_nucleus": 0.9854, "pixel_dice_cytoplasm": 0.9666,
               "cells_found": 91.0, "cells_true": 91.0, "nc_ratio_mae": 0.0149, "nc_ratio_mean_relative_error": 0.095,
               "nucleus_area_px_mean_relative_error": 0.0521}
    write(tmp_path, "demo", {"total_seconds": 540.0, "held_out": {"classes": classes}}, "bash demo.sh --record d.json")
    assert report.demo_text(tmp_path) == (
        "Recorded run (`bash demo.sh --record d.json`, commit ece1d31 (2026-11-30) †, 2 CPU cores): 9.0 min after "
        "installation. Nucleus + cytoplasm over all seven classes, on 91 images of 7 held-out source cells (13 copies "
        "each): nucleus Dice 0.985, cytoplasm Dice 0.967; over the nuclei found in those images (91 of 91), the N/C "
        f"ratio is off by 0.015 on average (9.5 % relative) and the nucleus area by 5.2 %.\n\n{report.RECOVERED}")


def with_interval(entry: dict, low: float, high: float) -> dict:
    entry["headline"].update(pixel_dice_ci95_low=low, pixel_dice_ci95_high=high)
    return entry


@pytest.mark.parametrize("dices, expected", [
    ([(0.9545, 0.946, 0.962), (0.9547, 0.946, 0.962), (0.9, 0.88, 0.92)],
     "- **The goal of Dice 0.955 is not reached**: the best rows score 0.9545 to 0.9547, and 0.955 lies inside "
     "their intervals over cells: 32 cells cannot tell the two apart."),
    ([(0.9400, 0.930, 0.950), (0.9450, 0.940, 0.950)],
     "- **The goal of Dice 0.955 is not reached**: the best rows score 0.9400 to 0.9450."),
    ([(0.9400, 0.930, 0.950), (0.9600, 0.950, 0.970)], "- **The goal of Dice 0.955 is reached**: the best row scores "
                                                       "0.9600."),
])
def test_goal_by_hand(dices, expected):
    quality = {f"r{i}": with_interval(fake(f"r{i}", d), low, high) for i, (d, low, high) in enumerate(dices)}
    assert findings.goal(quality) == expected


def test_shipped_members_by_width_and_their_spread_by_hand():
    """Members 0.950, 0.940, 0.930 (8) and 0.960, 0.950 (16): spread (0.960 - 0.930) / 2 = 0.015."""
    entry = fake("ensemble_mixed5", 0.95)
    entry["member_headlines"] = [{"pixel_dice": d} for d in (0.95, 0.94, 0.93, 0.96, 0.95)]
    entry["training"]["member_base_filters"] = [8, 8, 8, 16, 16]
    text = findings.shipped({"ensemble_mixed5": entry})
    assert "score 0.950, 0.940, 0.930 (8 filters) and 0.960, 0.950 (16 filters) on the same hold-out" in text
    assert "moves by about ±0.015 with the seed" in text


@pytest.mark.parametrize("rot90, flips, verdict", [((0.9515, 0.9539), (0.9501, 0.9537), "Small but never negative"),
                                                    ((0.9515, 0.9530), (0.9501, 0.9537), "Not always better")])
def test_views_verdict_by_hand(rot90, flips, verdict):
    names = ("ensemble_soft_rot90", "ensemble_mixed_rot90", "ensemble_soft", "ensemble_mixed")
    quality = {n: fake(n, d) for n, d in zip(names, rot90 + flips)}
    assert f". {verdict}, for twice the prediction time" in findings.views(quality)


def test_findings_leave_out_bullets_whose_entries_are_missing():
    assert findings.findings_text({"a": fake("a", 0.9), "b": fake("b", 0.91)}).startswith("- **The goal of Dice")
    assert findings.findings_text({}) == ""


def copy_of_the_committed_results(tmp_path: Path) -> tuple[Path, tuple[Path, ...]]:
    results, docs = tmp_path / "results", tmp_path / "docs"
    shutil.copytree(report.RESULTS, results, ignore=shutil.ignore_patterns("*_quick.json", "*.tmp"))
    docs.mkdir()
    return results, tuple(Path(shutil.copy(p, docs / p.name)) for p in report.DOCUMENTS)


def edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("file, change, message", [
    ("train.json", lambda d: d["provenance"].pop("commit"), "train.json: provenance: missing key 'commit'"),
    ("train.json", lambda d: d["provenance"].update(commit=None, recovered=None),
     "train.json: no commit"),
    ("infer.json", lambda d: d.pop("provenance"), "infer.json: no provenance record"),
    ("demo.json", lambda d: d["provenance"].update(unrecorded=["dirty"]),
     "demo.json: unrecorded fields without a recovered note"),
    ("demo.json", lambda d: d["provenance"].pop("cpu_model"), "demo.json: provenance: missing key 'cpu_model'"),
    ("quality.json", lambda d: d["seed"].pop("provenance"), "quality.json: entry seed: no provenance record"),
    ("quality.json", lambda d: d["cpu_auto"]["provenance"].update(timestamp="2026-11-30"),
     "quality.json: entry cpu_auto: timestamp '2026-11-30' is not ISO 8601 with a time zone"),
])
def test_check_fails_on_a_result_without_its_provenance(tmp_path, capsys, file, change, message):
    results, documents = copy_of_the_committed_results(tmp_path)
    assert report.main(["--check"], results, documents) == 0
    edit(results / file, change)
    assert report.main(["--check"], results, documents) == 1
    assert f"error: {results / file}".removesuffix(file) + message in capsys.readouterr().err


def test_check_fails_on_a_document_out_of_date_or_an_unknown_block(tmp_path, capsys):
    results, (readme, performance) = copy_of_the_committed_results(tmp_path)
    readme.write_text(readme.read_text().replace("**0.8731**", "**0.9999**"))
    performance.write_text(performance.read_text() + "\n<!-- bench:nothing -->\nx\n<!-- /bench -->\n")
    assert report.main(["--check"], results, (readme, performance)) == 1
    err = capsys.readouterr().err
    assert f"error: {readme} differs from bench/results; run: python -m bench.report --write" in err
    assert f"error: {performance}: unknown generated block 'nothing'" in err
    assert report.main(["--write"], results, (readme, performance)) == 0
    assert "**0.8731**" in readme.read_text()
