"""Per-epoch training cost of the shipped recipes (seed, shipped, CPU), through run_training itself.

python bench/bench_recipes.py [--quick] [--repeats 3] [--out bench/results/recipes.json]
Each recipe trains in a fresh process on the same synthetic pairs for 1 + N epochs (augmentation,
validation and checkpointing included); the first epoch (tracing) is left out. Repeats are
interleaved across recipes so that machine load hits them alike.
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


def members(recipe: Path) -> int:
    """[train] ensemble of a recipe: an epoch of the recipe is that many epochs of one UNet."""
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    parser.read(recipe)
    return int(parser["train"].get("ensemble", "1"))


def derived(recipe: Path, data: Path, work: Path, epochs: int) -> Path:
    """The recipe on synthetic data, one member (members() scales the timing), no early stopping."""
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    parser.read(recipe)
    t = parser["train"]
    t["ensemble"] = "1"
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


def child(args) -> int:
    import keras

    from flexunet.config import load_config
    from flexunet.train import run_training

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
    runs: dict[str, list[float]] = {k: [] for k in present}
    work = Path("/tmp/flexunet_bench_recipes")
    for r in range(repeats):
        for name, recipe in present.items():
            config = derived(recipe, data, work / f"{name}_{r}", 1 + epochs)
            result = benchlib.run_child(Path(__file__), ["--child", "--config", str(config)])
            train_images = int(pairs * 0.8)
            runs[name] += [train_images / s for s in result["epoch_seconds"]]
            print(f"{name} repeat {r}: epochs {result['epoch_seconds']}", flush=True)
    stats = {k: benchlib.summary(v) for k, v in runs.items()}
    count = {k: members(v) for k, v in present.items()}
    report = {
        **benchlib.header({"pairs": pairs, "timed_epochs": epochs, "repeats": repeats,
                           "recipes": {k: str(v) for k, v in present.items()}}),
        "train_img_per_s": stats,
        "ensemble_members": count,
        "seconds_per_epoch_of_1633_images": {k: count[k] * SEED_TRAIN_IMAGES / v["median"]
                                             for k, v in stats.items()},
        "speedup_vs_seed_recipe": {k: v["median"] / count[k] / stats["seed"]["median"] for k, v in stats.items()},
    }
    out = args.out or benchlib.result_path("recipes", args.quick)
    benchlib.write_json(out, report)
    print(json.dumps(report["speedup_vs_seed_recipe"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
