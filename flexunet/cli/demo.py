"""The README demo: synthetic raw Herlev cells through the Pap-Smear project's own scripts, end to end: the
nucleus model, then nucleus + cytoplasm over all seven classes (per-cell N/C ratio), then cells on fields of
view where they touch and overlap (each nucleus with its own cytoplasm, GeoJSON for QuPath)."""

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from flexunet.cli.demo_report import report
from flexunet.cli.guard import guarded
from flexunet.cli.guard import parser as command_parser
from flexunet.config.edit import write_variant
from flexunet.errors import FlexUNetError
from flexunet.fsutil import prepare_output_dir
from flexunet.generators.fields import write_fields
from flexunet.generators.herlev import CLASSES
from flexunet.generators.synthetic import write_raw_dataset
from flexunet.provenance import Provenance, write_result_json

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "projects" / "Pap-Smear"
RATIOS = ("--ratios", "0.7", "0.15", "0.15")
CLASSES_CONFIG, FIELDS_CONFIG = "./all_classes_train_eval_infer.config", "./fields_train_eval_infer.config"
PARTS = {  # part: (config, [(title, script, *args)])
    "nucleus": (None, [
        ("generate 13 copies per raw cell", "generator/1.generate.sh"),
        ("split by source cell", "generator/2.split_master.sh", *RATIOS),
        ("inspect the data set", "0.dataset_inspector.sh"),
        ("train", "1.train.sh"),
        ("evaluate", "2.evaluate.sh"),
        ("infer", "3.infer.sh"),
        ("tiled inference on raw cells", "4.tiled_infer.sh"),
        ("inspect the model", "model_inspect.sh"),
    ]),
    "classes": (CLASSES_CONFIG, [
        ("label masks of all seven classes", "generator/3.generate_labels.sh"),
        ("split by cell, stratified by class", "generator/4.split_all_classes.sh", *RATIOS),
        ("train nucleus + cytoplasm", "1.train.sh"),
        ("evaluate per class and per cell", "2.evaluate.sh"),
        ("infer labels and cells.csv", "3.infer.sh"),
    ]),
    "fields": (FIELDS_CONFIG, [
        ("train cells on fields of view", "1.train.sh"),
        ("evaluate cell by cell on unseen fields", "2.evaluate.sh"),
        ("infer cells (GeoJSON, label TIFF)", "3.infer.sh"),
    ]),
}
CPU_SIZED = {
    "model": {"base_filters": "8", "num_layers": "4", "learning_rate": "0.002"},
    "train": {"epochs": "8", "batch_size": "8", "patience": "5", "reducer_patience": "3", "ensemble": "1",
              "ensemble_base_filters": "[]", "epoch_change_infer": "True", "num_infer_images": "4"},
    "generator": {"augmentation": "False"},
    "infer": {"images_dir": '"./Pap-Smear/severe_dysplastic/test/images"', "pixel_size_um": "0.25"},
    "tiledinfer": {"images_dir": '"./mini_test"', "overlapping": "32"},
}
FIELD_SIZE = 256
FIELD_COUNTS = {"train": 16, "valid": 4, "test": 6}
FIELDS_DATA = {"train": {"image_datapath": '"./fields/train/images"', "mask_datapath": '"./fields/train/masks"',
                         "model_dir": '"./models_fields"', "eval_dir": '"./eval_fields"', "epochs": "40",
                         "min_steps_per_epoch": "8", "patience": "40", "epoch_change_infer": "False"},
               "eval": {"image_datapath": '"./fields/valid/images"', "mask_datapath": '"./fields/valid/masks"',
                        "output_dir": '"./fields_eval_output"'},
               "test": {"image_datapath": '"./fields/test/images"', "mask_datapath": '"./fields/test/masks"',
                        "output_dir": '"./fields_test_eval_output"'},
               "infer": {"images_dir": '"./fields/test/images"', "output_dir": '"./fields_test_output"',
                         "merged_dir": '"./fields_test_output_merged"', "pixel_size_um": "0.5"},
               "model": {"image_width": str(FIELD_SIZE), "image_height": str(FIELD_SIZE)}}


def cpu_sized(epochs: int | None, **more: dict) -> dict:
    """CPU_SIZED (a small UNet that trains in about a minute), with `more` keys per section on top."""
    overrides = {section: dict(values) for section, values in CPU_SIZED.items()}
    for section, values in more.items():
        overrides.setdefault(section, {}).update(values)
    if epochs:
        overrides["train"]["epochs"] = str(epochs)
    return overrides


def demo_config(shipped: Path, target: Path, epochs: int | None) -> None:
    """The shipped config with CPU-sized overrides (a small UNet that trains in about a minute)."""
    write_variant(shipped, target, cpu_sized(epochs),
                  "The README demo's CPU-sized variant of projects/Pap-Smear/train_eval_infer.config")


def prepare(workdir: Path, cells: int, seed: int, epochs: int | None, parts: list[str]) -> Path:
    """A copy of projects/Pap-Smear inside workdir, its configs CPU-sized, with synthetic raw cells (and
    fields of view) and a mini_test folder."""
    prepare_output_dir(workdir, "demo folder", {"repository": REPO})
    project = workdir / "Pap-Smear"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("models*", "eval*", "*_output*", "Pap-Smear",
                                                                     "Smear2005-*", "New database pictures"))
    demo_config(PROJECT / "train_eval_infer.config", project / "train_eval_infer.config", epochs)
    raw = write_raw_dataset(project / "generator" / "New database pictures", {"severe_dysplastic": cells}, seed)
    print(f"Drew {raw['total']} synthetic raw cells (BMP + palette -d.bmp) in {raw['output_dir']}")
    if "classes" in parts:
        every = write_raw_dataset(project / "generator" / "All classes", {c: max(6, cells // 12) for c in CLASSES},
                                  seed + 2)
        print(f"Drew {every['total']} synthetic raw cells of all seven classes in {every['output_dir']}")
        label_config = project / "generator" / "image_label_generator.config"
        write_variant(label_config, label_config, {"generator": {"base_dir": '"./All classes"'}},
                      "The demo's variant: the synthetic cells of all seven classes")
        write_variant(PROJECT / CLASSES_CONFIG, project / CLASSES_CONFIG,
                      cpu_sized(epochs, infer={"images_dir": '"./Pap-Smear/all_classes/test/images"'},
                                train={"epoch_change_infer": "False"}),
                      "The README demo's CPU-sized variant of all_classes_train_eval_infer.config")
    if "fields" in parts:
        fields = write_fields(project / "fields", FIELD_COUNTS, size=FIELD_SIZE, seed=seed)
        print(f"Drew {sum(fields['counts'].values())} fields of view with {fields['cells']} cells "
              f"({fields['fields_with_overlaps']} fields where cells overlap) in {fields['output_dir']}")
        write_variant(PROJECT / CLASSES_CONFIG, project / FIELDS_CONFIG, cpu_sized(None, **FIELDS_DATA),
                      "The README demo's fields of view: all_classes_train_eval_infer.config (the cells head), "
                      "CPU-sized, with other paths and image size")
    extra = write_raw_dataset(workdir / "unseen_raw", {"severe_dysplastic": 6}, seed + 1)
    mini = project / "mini_test"
    mini.mkdir()
    for bmp in sorted(Path(extra["output_dir"], "severe_dysplastic").glob("*.BMP")):
        shutil.copy(bmp, mini / bmp.name)
    return project


def run_steps(project: Path, parts: list[str]) -> dict[str, float]:
    """Run the project's scripts in order, part by part; stop at the first failure."""
    seconds = {}
    for part in parts:
        config, steps = PARTS[part]
        env = {**os.environ, **({"CONFIG": config} if config else {})}
        for title, script, *extra in steps:
            print(f"\n=== {title}: {'CONFIG=' + config + ' ' if config else ''}{script} {' '.join(extra)}", flush=True)
            start = time.perf_counter()
            done = subprocess.run(["bash", str(project / script), *extra], cwd=project, env=env)
            seconds[title] = time.perf_counter() - start
            if done.returncode != 0:
                raise FlexUNetError(f"demo step '{title}' ({script}) failed with exit code {done.returncode}")
    return seconds


ASSETS = {
    "inspection/train_samples.png": "demo_train_samples.png",
    "inspection/dataset_train_coverage.png": "demo_dataset_coverage.png",
    "eval/train_losses.png": "demo_train_losses.png",
    "eval/train_metrics.png": "demo_train_metrics.png",
    "test_output_merged/_montage.png": "demo_inference_montage.png",
    "tiled_test_output_merged/_montage.png": "demo_tiled_inference_montage.png",
    "test_eval_output/dice_histogram.png": "demo_dice_histogram.png",
    "test_eval_output/worst_cases.png": "demo_worst_cases.png",
    "all_classes_test_output_merged/_montage.png": "demo_classes_montage.png",
    "all_classes_test_eval_output/worst_cases.png": "demo_classes_worst_cases.png",
    "all_classes_test_eval_output/bland_altman_nc_ratio.png": "demo_classes_bland_altman_nc_ratio.png",
    "fields_test_output_merged/_montage.png": "demo_fields_montage.png",
    "fields_test_output_merged/test_field_0000.png": "demo_fields_cells.png",
    "fields_test_eval_output/bland_altman_nc_ratio.png": "demo_fields_bland_altman_nc_ratio.png",
}


def copy_assets(project: Path, assets: Path) -> None:
    """Copy the demo's pictures (synthetic data only) to `assets` under stable names."""
    assets.mkdir(parents=True, exist_ok=True)
    previews = sorted((project / "epoch_change_infer").glob("epoch_*.png"))
    pictures = {source: name for source, name in ASSETS.items() if (project / source).exists()}
    if previews:
        pictures[str(previews[-1].relative_to(project))] = "demo_epoch_change_infer.png"
    for source, name in pictures.items():
        shutil.copy(project / source, assets / name)
    print(f"Copied {len(pictures)} pictures to {assets}")


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(__doc__.splitlines()[0], None)
    parser.add_argument("--workdir", type=Path, default=REPO / "demo_run")
    parser.add_argument("--cells", type=int, default=56, help="synthetic raw cells to draw")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nucleus-only", action="store_true", help="only the nucleus part")
    parser.add_argument("--no-fields", action="store_true", help="skip the fields of view part")
    parser.add_argument("--assets", type=Path, default=None,
                        help="also copy the demo's pictures to this folder (the README's asset/)")
    parser.add_argument("--record", type=Path, default=None,
                        help="write the timings and held-out scores as JSON (bench/results/demo.json)")
    args = parser.parse_args(argv)
    parts = ["nucleus"] + ([] if args.nucleus_only else ["classes"] + ([] if args.no_fields else ["fields"]))

    def work():
        command = "bash demo.sh " + shlex.join(argv if argv is not None else sys.argv[1:])
        provenance = Provenance.collect(command.strip())
        if args.workdir.resolve().parent != REPO:
            raise FlexUNetError(f"--workdir: expected a folder directly inside {REPO} (the project "
                                f"scripts call ../../*.py), got {args.workdir}")
        project = prepare(args.workdir, args.cells, args.seed, args.epochs, parts)
        summary = report(project, run_steps(project, parts), parts)
        if args.record:
            write_result_json(args.record, {"parts": parts, "cells": args.cells, **summary}, provenance)
        if args.assets:
            copy_assets(project, args.assets)

    return guarded(work, args.debug)


if __name__ == "__main__":
    sys.exit(main())
