"""A copy of projects/Pap-Smear on a grouped split of the real data runs its scripts end to end."""

import configparser
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import REPO, subprocess_env
from flexunet.data.pairs import shared_cells
from flexunet.generators.split import split_master

SCRIPTS = ["0.dataset_inspector.sh", "1.train.sh", "2.evaluate.sh", "3.infer.sh", "4.tiled_infer.sh",
           "model_inspect.sh"]
SHORT = {
    "model": {"image_width": "64", "image_height": "64", "base_filters": "4", "num_layers": "3"},
    "train": {"epochs": "2", "steps_per_epoch": "15", "validation_steps": "4", "batch_size": "8",
              "ensemble": "2", "ensemble_base_filters": "[4, 6]"},
    "postprocess": {"tta": "False"},
}


def project_copy(root: Path) -> Path:
    """root/repo/{top-level scripts, .venv} + root/repo/projects/Pap-Smear, as the .sh files expect."""
    repo = root / "repo"
    project = repo / "projects" / "Pap-Smear"
    shutil.copytree(REPO / "projects" / "Pap-Smear", project,
                    ignore=shutil.ignore_patterns("models*", "eval*", "*output*", "Pap-Smear", "inspection"))
    for script in REPO.glob("*.py"):
        (repo / script.name).symlink_to(script)
    (repo / ".venv").symlink_to(Path(sys.prefix))
    return project


def shorten(config: Path, mini_test: Path) -> None:
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    parser.read(config)
    for section, values in SHORT.items():
        for key, value in values.items():
            parser[section][key] = value
    parser["tiledinfer"]["images_dir"] = f'"{mini_test}"'
    with open(config, "w") as handle:
        parser.write(handle)


def rows(path: Path) -> list[dict]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.skipif(os.name == "nt", reason="runs the .sh scripts")
def test_project_scripts_on_a_grouped_split_of_the_real_data(tmp_path, shared_data):
    project = project_copy(tmp_path)
    split = split_master(shared_data / "Pap-Smear-master" / "severe_dysplastic",
                         project / "Pap-Smear" / "severe_dysplastic", verbose=False)
    data = project / "Pap-Smear" / "severe_dysplastic"
    names = {s: [p.name for p in (data / s / "images").iterdir()] for s in ("train", "valid", "test")}
    assert not shared_cells(names["train"], names["test"]) and not shared_cells(names["train"], names["valid"])
    shorten(project / "train_eval_infer.config", shared_data / "mini_test")

    for script in SCRIPTS:
        done = subprocess.run(["bash", str(project / script)], cwd=tmp_path, env=subprocess_env(),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{script}: {done.stderr[-2000:]}"

    members = [f"{kind}/member_{k}/{name}" for k in (0, 1) for kind, name in (
        ("models", "best_model.keras"), ("eval", "train_losses.csv"), ("eval", "train_metrics.csv"),
        ("eval", "train_losses.png"), ("eval", "train_metrics.png"))]
    for path in [*members, "models/model_info.json", "models/train_eval_infer.config",
                 "eval_output/evaluation.csv", "eval_output/per_image.csv",
                 "test_eval_output/evaluation.csv", "test_output_merged/_montage.png",
                 "inspection/summary.txt", "inspection/train_samples.png"]:
        assert (project / path).is_file(), path
    for k in (0, 1):
        losses = (project / "eval" / f"member_{k}" / "train_losses.csv").read_text().splitlines()
        assert losses[0] == "epoch, loss, val_loss" and len(losses) == 3
    test_rows = rows(project / "test_eval_output" / "per_image.csv")
    assert len(test_rows) == split["test"]["images"]
    metrics = {r["metric"]: float(r["value"]) for r in rows(project / "test_eval_output" / "evaluation.csv")}
    assert 0.0 <= metrics["pixel_dice"] <= 1.0 and metrics["source_cells"] == split["test"]["cells"]

    masks = sorted(p.stem for p in (project / "test_output").glob("*.png"))
    assert masks == sorted(Path(n).stem for n in names["test"])
    for bmp in sorted((shared_data / "mini_test").glob("*.BMP")):
        tiled = Image.open(project / "tiled_test_output" / f"{bmp.stem}.png")
        assert tiled.size == Image.open(bmp).size and tiled.mode == "L"
