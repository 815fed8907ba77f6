"""The README demo: synthetic raw Herlev cells through the Pap-Smear project's own scripts, end to end."""

import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path

from flexunet.cli.guard import guarded
from flexunet.cli.guard import parser as command_parser
from flexunet.config.edit import write_variant
from flexunet.errors import FlexUNetError
from flexunet.fsutil import prepare_output_dir
from flexunet.generators.synthetic import write_raw_dataset

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "projects" / "Pap-Smear"
STEPS = [
    ("generate 13 copies per raw cell", "generator/1.generate.sh"),
    ("split by source cell", "generator/2.split_master.sh", "--ratios", "0.7", "0.15", "0.15"),
    ("inspect the data set", "0.dataset_inspector.sh"),
    ("train", "1.train.sh"),
    ("evaluate", "2.evaluate.sh"),
    ("infer", "3.infer.sh"),
    ("tiled inference on raw cells", "4.tiled_infer.sh"),
    ("inspect the model", "model_inspect.sh"),
]
CPU_SIZED = {
    "model": {"base_filters": "8", "num_layers": "4", "learning_rate": "0.002"},
    "train": {"epochs": "14", "batch_size": "8", "patience": "5", "reducer_patience": "3", "ensemble": "1",
              "ensemble_base_filters": "[]",
              "epoch_change_infer": "True", "num_infer_images": "4"},
    "generator": {"augmentation": "False"},
    "infer": {"images_dir": '"./Pap-Smear/severe_dysplastic/test/images"'},
    "tiledinfer": {"images_dir": '"./mini_test"', "overlapping": "32"},
}


def demo_config(shipped: Path, target: Path, epochs: int | None) -> None:
    """The shipped config with CPU-sized overrides (a small UNet that trains in about a minute)."""
    overrides = {section: dict(values) for section, values in CPU_SIZED.items()}
    if epochs:
        overrides["train"]["epochs"] = str(epochs)
    write_variant(shipped, target, overrides,
                  "The README demo's CPU-sized variant of projects/Pap-Smear/train_eval_infer.config")


def prepare(workdir: Path, cells: int, seed: int, epochs: int | None) -> Path:
    """A copy of projects/Pap-Smear inside workdir, with synthetic raw cells and a mini_test folder."""
    prepare_output_dir(workdir, "demo folder", {"repository": REPO})
    project = workdir / "Pap-Smear"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("models*", "eval*", "*_output*", "Pap-Smear",
                                                                     "Smear2005-master", "New database pictures"))
    demo_config(PROJECT / "train_eval_infer.config", project / "train_eval_infer.config", epochs)
    raw = write_raw_dataset(project / "generator" / "New database pictures", {"severe_dysplastic": cells}, seed)
    print(f"Drew {raw['total']} synthetic raw cells (BMP + palette -d.bmp) in {raw['output_dir']}")
    extra = write_raw_dataset(workdir / "unseen_raw", {"severe_dysplastic": 6}, seed + 1)
    mini = project / "mini_test"
    mini.mkdir()
    for bmp in sorted(Path(extra["output_dir"], "severe_dysplastic").glob("*.BMP")):
        shutil.copy(bmp, mini / bmp.name)
    return project


def run_steps(project: Path) -> dict[str, float]:
    """Run the project's scripts in order; stop at the first failure."""
    seconds = {}
    for title, script, *extra in STEPS:
        print(f"\n=== {title}: {script} {' '.join(extra)}", flush=True)
        start = time.perf_counter()
        done = subprocess.run(["bash", str(project / script), *extra], cwd=project)
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
}


def copy_assets(project: Path, assets: Path) -> None:
    """Copy the demo's pictures (synthetic data only) to `assets` under stable names."""
    assets.mkdir(parents=True, exist_ok=True)
    previews = sorted((project / "epoch_change_infer").glob("epoch_*.png"))
    pictures = dict(ASSETS)
    if previews:
        pictures[str(previews[-1].relative_to(project))] = "demo_epoch_change_infer.png"
    for source, name in pictures.items():
        shutil.copy(project / source, assets / name)
    print(f"Copied {len(pictures)} pictures to {assets}")


def held_out_dice(project: Path) -> dict[str, float]:
    with open(project / "test_eval_output" / "evaluation.csv") as handle:
        return {row["metric"]: float(row["value"]) for row in csv.DictReader(handle)}


def report(project: Path, seconds: dict[str, float]) -> None:
    scores = held_out_dice(project)
    print("\n=== demo finished in {:.0f} s".format(sum(seconds.values())))
    for title, s in seconds.items():
        print(f"  {title:32s} {s:6.1f} s")
    print(f"Held-out test cells (never seen in training or model selection): "
          f"pixel Dice {scores['pixel_dice']:.4f} (95 % interval over cells {scores['pixel_dice_ci95_low']:.3f} "
          f"to {scores['pixel_dice_ci95_high']:.3f}), IoU {scores['pixel_iou']:.4f}, "
          f"mean per-image Dice {scores['mean_dice']:.4f} over {int(scores['images'])} images "
          f"of {int(scores['source_cells'])} source cells")
    places = {
        "best model": "models/best_model.keras (threshold in models/model_info.json)",
        "training curves and CSVs": "eval/train_losses.png, eval/train_metrics.png, eval/*.csv",
        "per-epoch predictions": "epoch_change_infer/",
        "evaluation": "eval_output/ and test_eval_output/ (evaluation.csv, per_image.csv, PNGs)",
        "inferred masks": "test_output/ (overlays: test_output_merged/)",
        "tiled masks": "tiled_test_output/ (overlays: tiled_test_output_merged/)",
        "data set pictures": "inspection/",
    }
    for what, where in places.items():
        print(f"  {what:26s} {project}/{where}")


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(__doc__, None)
    parser.add_argument("--workdir", type=Path, default=REPO / "demo_run")
    parser.add_argument("--cells", type=int, default=80, help="synthetic raw cells to draw")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--assets", type=Path, default=None,
                        help="also copy the demo's pictures to this folder (the README's asset/)")
    args = parser.parse_args(argv)

    def work():
        if args.workdir.resolve().parent != REPO:
            raise FlexUNetError(f"--workdir: expected a folder directly inside {REPO} (the project "
                                f"scripts call ../../*.py), got {args.workdir}")
        project = prepare(args.workdir, args.cells, args.seed, args.epochs)
        report(project, run_steps(project))
        if args.assets:
            copy_assets(project, args.assets)

    return guarded(work, args.debug)


if __name__ == "__main__":
    sys.exit(main())
