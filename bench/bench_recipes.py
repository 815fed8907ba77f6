"""Per-epoch training cost of the shipped recipes (seed, shipped, CPU), through run_training itself.

python bench/bench_recipes.py [--quick] [--repeats 3] [--out bench/results/recipes.json]
Each recipe trains one member per distinct width (ensemble_base_filters) in a fresh process on the
same synthetic pairs for 1 + N epochs (augmentation, validation and checkpointing included); the
first epoch (tracing) is left out, and an epoch of an ensemble is the sum of its members' epochs.
Repeats are interleaved across recipes so that machine load hits them alike.
"""

import argparse
import configparser
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402

PROJECT = benchlib.ROOT / "projects" / "Pap-Smear"
RECIPES = {"seed": "seed_train_eval_infer.config", "shipped": "train_eval_infer.config",
           "cpu": "cpu_train_eval_infer.config"}
SEED_TRAIN_IMAGES = 1633


def read_recipe(recipe: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    parser.read(recipe)
    for section in ("model", "train"):
        if not parser.has_section(section):
            parser.add_section(section)
    return parser


def member_widths(recipe: Path) -> list[int]:
    """base_filters of each [train] ensemble member: an epoch of the recipe is one epoch of each."""
    from flexunet.config import load_config
    from flexunet.model.store import member_configs

    return [c.model.base_filters for c in member_configs(load_config(recipe))]


def derived(recipe: Path, data: Path, work: Path, epochs: int, width: int) -> Path:
    """One member of the recipe (base_filters `width`) on synthetic data, no early stopping."""
    parser = read_recipe(recipe)
    parser["model"]["base_filters"] = str(width)
    t = parser["train"]
    t["ensemble"] = "1"
    t.pop("ensemble_base_filters", None)
    t["image_datapath"], t["mask_datapath"] = f'"{data}/images"', f'"{data}/masks"'
    t["model_dir"], t["eval_dir"] = f'"{work}/models"', f'"{work}/eval"'
    t["epochs"], t["patience"], t["validation"], t["select_threshold"] = str(epochs), "0", '"grouped"', "False"
    t["create_backup"] = "False"
    for section in ("eval", "test", "infer", "tiledinfer"):
        parser.remove_section(section)
    path = work / "train_eval_infer.config"
    work.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        parser.write(handle)
    return path


def run_name(recipe: str, width: int, widths: list[int]) -> str:
    """The timing's name: the recipe's, with the width when its members differ in width."""
    return recipe if len(set(widths)) == 1 else f"{recipe}_f{width}"


def child(args) -> int:
    import keras

    from flexunet.config import load_config
    from flexunet.training.run import run_training

    stamps: list[float] = []

    class Clock(keras.callbacks.Callback):
        """End time of each epoch, after checkpointing (the toolkit's callbacks run first)."""

        def on_epoch_end(self, epoch, logs=None):
            stamps.append(time.perf_counter())

    start = time.perf_counter()
    run_training(load_config(args.config), verbose=0, extra_callbacks=[Clock()])
    epochs = [b - a for a, b in zip(stamps, stamps[1:])]
    benchlib.write_json(Path(args.out), {"epoch_seconds": epochs, "wall": time.perf_counter() - start})
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after the first")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    pairs, epochs, repeats = (64, 1, 1) if args.quick else (args.pairs, args.epochs, max(3, args.repeats))
    data = benchlib.synthetic_pairs(pairs)
    present = {k: PROJECT / v for k, v in RECIPES.items() if (PROJECT / v).is_file()}
    widths = {k: member_widths(v) for k, v in present.items()}
    runs: dict[str, list[float]] = {}
    work = Path("/tmp/flexunet_bench_recipes")
    for r in range(repeats):
        for name, recipe in present.items():
            for width in sorted(set(widths[name])):
                key = run_name(name, width, widths[name])
                config = derived(recipe, data, work / f"{key}_{r}", 1 + epochs, width)
                result = benchlib.run_child(Path(__file__), ["--child", "--config", str(config)])
                train_images = int(pairs * 0.8)
                runs.setdefault(key, []).extend(train_images / s for s in result["epoch_seconds"])
                print(f"{key} repeat {r}: epochs {result['epoch_seconds']}", flush=True)
    stats = {k: benchlib.summary(v) for k, v in runs.items()}
    epoch_seconds = {k: sum(SEED_TRAIN_IMAGES / stats[run_name(k, w, ws)]["median"] for w in ws)
                     for k, ws in widths.items()}
    report = {
        **benchlib.header({"pairs": pairs, "timed_epochs": epochs, "repeats": repeats,
                           "recipes": {k: str(v) for k, v in present.items()}}),
        "train_img_per_s": stats,
        "member_base_filters": widths,
        "seconds_per_epoch_of_1633_images": epoch_seconds,
        "speedup_vs_seed_recipe": {k: epoch_seconds["seed"] / v for k, v in epoch_seconds.items()},
    }
    out = args.out or benchlib.result_path("recipes", args.quick)
    benchlib.write_json(out, report)
    print(json.dumps(report["speedup_vs_seed_recipe"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
