"""Honest accuracy: train a recipe on a grouped split of the real data, score unseen source cells.

python bench/quality.py --recipe bench/recipes/seed.config --name seed [--epochs N] [--max-minutes M]
An interrupted run continues with --set train.resume=True; --max-minutes ends training after the
epoch that crosses the budget (recorded in the JSON) and scores the best checkpoint so far;
--score-only scores a finished run's model again (after a change to the scoring) without training.
The headline's per-image scores go to <workdir>/holdout_per_image.csv: compare two recipes on the same
cells with flexunet-compare (python -m flexunet.compare A.csv B.csv).
Writes bench/results/quality_<name>.json. Runs on CPU (slowly) and on a GPU with KERAS_BACKEND=jax.
"""

import argparse
import configparser
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from flexunet.config import load_config  # noqa: E402
from flexunet.data.dataset import MaskOptions, PairSource  # noqa: E402
from flexunet.data.pairs import pair_files, source_cell_id  # noqa: E402
from flexunet.evaluation.scores import PER_IMAGE_COLUMNS, image_scores, summarize# noqa: E402
from flexunet.fsutil import csv_text# noqa: E402
from flexunet.model.files import best_model_files# noqa: E402
from flexunet.model.store import load_trained, load_unet, member_configs# noqa: E402
from flexunet.inference.predict import batched, model_predictor# noqa: E402
from flexunet.inference.postprocess import to_mask# noqa: E402
from flexunet.training.run import run_training# noqa: E402

DATA = ROOT.parent / "shared" / "data" / "Pap-Smear-master" / "severe_dysplastic"
TARGET = MaskOptions(binarize=True, threshold=128, blur=False)
PER_IMAGE_CSV = "holdout_per_image.csv"


class TimeLimit(keras.callbacks.Callback):
    """Stop training after the first epoch that ends past `minutes` of wall time."""

    def __init__(self, minutes: float):
        super().__init__()
        self.deadline = time.monotonic() + 60 * minutes
        self.hit = False

    def on_epoch_end(self, epoch, logs=None):
        if time.monotonic() > self.deadline:
            self.hit = True
            self.model.stop_training = True


def make_split(data: Path, workdir: Path, holdout: int, seed: int) -> dict:
    """Symlink a grouped split: `holdout` whole source cells for test, the rest for training."""
    pairs = pair_files(data / "images", data / "masks", "images", "masks")
    cells = sorted({source_cell_id(p.image.name) for p in pairs})
    np.random.default_rng(seed).shuffle(cells)
    test_cells = set(cells[:holdout])
    for p in pairs:
        side = "test" if source_cell_id(p.image.name) in test_cells else "train"
        for kind, src in (("images", p.image), ("masks", p.mask)):
            link = workdir / "split" / side / kind / src.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(src.resolve())
    return {"test_cells": sorted(test_cells), "train_cells": len(cells) - len(test_cells)}


def derived_config(recipe: Path, workdir: Path, epochs: int | None, overrides: list[str] = ()) -> Path:
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"))
    parser.read(recipe)
    for section in ("train", "eval"):
        if not parser.has_section(section):
            parser.add_section(section)
    split = workdir / "split"
    t = parser["train"]
    t["image_datapath"], t["mask_datapath"] = f'"{split}/train/images"', f'"{split}/train/masks"'
    t["model_dir"], t["eval_dir"] = f'"{workdir}/models"', f'"{workdir}/eval"'
    t["epoch_change_infer"] = "False"
    if t.get("validation", "").strip("\"' ") == "eval":
        t["validation"] = '"grouped"'
    if epochs:
        t["epochs"] = str(epochs)
    e = parser["eval"]
    e["image_datapath"], e["mask_datapath"] = f'"{split}/test/images"', f'"{split}/test/masks"'
    e["output_dir"] = f'"{workdir}/eval_output"'
    for section in ("infer", "tiledinfer", "test"):
        parser.remove_section(section)
    for item in overrides:
        target, _, value = item.partition("=")
        section, _, key_name = target.partition(".")
        if not parser.has_section(section):
            parser.add_section(section)
        parser[section][key_name] = value
    path = workdir / "train_eval_infer.config"
    with open(path, "w") as handle:
        parser.write(handle)
    return path


def holdout_source(config, workdir: Path) -> tuple[list, PairSource]:
    pairs = pair_files(workdir / "split/test/images", workdir / "split/test/masks", "test", "test")
    size = (config.model.image_height, config.model.image_width)
    return pairs, PairSource(pairs, size, config.model.image_channels, TARGET).cache(progress=False)


def score_key(tta: bool, rot90: bool, post: bool, threshold: str = "selected") -> str:
    return f"tta={tta}{'+rot90' if tta and rot90 else ''},post={post},threshold={threshold}"


def score_model(model, threshold: float, pairs: list, source: PairSource, tta_options=(False, True),
                post_options=(False, True), rot90: bool = False, rows_out: dict | None = None) -> dict:
    """Scores on the held-out cells against the annotation (threshold 128, no blur); rot90 makes the
    TTA eight views. rows_out, when given, receives the per-image rows by score key."""
    results = {}
    for tta in tta_options:
        start = time.perf_counter()
        probs = batched(model_predictor(model, tta, rot90), source.images, 32)
        seconds = time.perf_counter() - start
        for post in post_options:
            for thr_name, thr in (("selected", threshold), ("0.5", 0.5)):
                rows = [image_scores(p.image.name, source.masks[i] > 127, to_mask(probs[i], thr, post, post) > 127)
                        for i, p in enumerate(pairs)]
                key = score_key(tta, rot90, post, thr_name)
                results[key] = {**summarize(rows), "threshold": thr, "predict_seconds": seconds}
                if rows_out is not None:
                    rows_out[key] = rows
    return results


def score_members(config, workdir: Path, threshold: float, members: list[str], pairs, source) -> list[dict]:
    """Each ensemble member alone, with the recipe's TTA and clean-up at the ensemble's threshold."""
    post = config.postprocess
    key = score_key(post.tta, post.tta_rot90, post.keep_largest)
    files = best_model_files(workdir / "models", members)
    return [score_model(load_unet(c, f), threshold, pairs, source, (post.tta,), (post.keep_largest,),
                        post.tta_rot90)[key]
            for c, f in zip(member_configs(config, len(files)), files)] if members else []


def score_trained(config, workdir: Path, members: list[str]) -> dict:
    """Scores of the trained model (and of each ensemble member) on the held-out cells; the headline's
    per-image rows go to workdir/holdout_per_image.csv (for flexunet-compare)."""
    model, threshold = load_trained(config)
    pairs, source = holdout_source(config, workdir)
    post, rows = config.postprocess, {}
    scores = score_model(model, threshold, pairs, source, rot90=post.tta_rot90, rows_out=rows)
    key = score_key(post.tta, post.tta_rot90, post.keep_largest)
    (workdir / PER_IMAGE_CSV).write_text(csv_text(rows[key], PER_IMAGE_COLUMNS))
    return {"scores": scores, "headline": scores[key],
            "member_headlines": score_members(config, workdir, threshold, members, pairs, source)}


def rescore(args) -> int:
    """--score-only: replace the scores of an earlier quality_<name>.json, keeping its training record."""
    workdir = args.workdir or Path("/tmp") / f"quality_{args.name}"
    out = args.out or ROOT / "bench" / "results" / f"quality_{args.name}.json"
    config_path = workdir / "train_eval_infer.config"
    if not (out.is_file() and config_path.is_file()):
        print(f"error: --score-only needs an earlier run: {out} and {config_path}", file=sys.stderr)
        return 1
    report = json.loads(out.read_text())
    report.update(score_trained(load_config(config_path), workdir, report["training"].get("members", [])))
    report["rescored"] = "scores recomputed with --score-only; training figures from the original run"
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"{args.name}: pixel Dice {report['headline']['pixel_dice']:.4f}; rewrote {out}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", required=True, type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--holdout", type=int, default=32, help="source cells held out (>= 30)")
    parser.add_argument("--split-seed", type=int, default=2026)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop training after the epoch that ends past this budget")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a recipe key, e.g. --set train.workers=8")
    parser.add_argument("--score-only", action="store_true",
                        help="score the model the workdir holds again with the current scoring code, "
                             "without training; the training figures stay those of the earlier JSON")
    args = parser.parse_args(argv)
    if args.score_only:
        return rescore(args)
    if not (args.data / "images").is_dir():
        print(f"error: {args.data}/images not found (the real Pap-Smear data)", file=sys.stderr)
        return 1
    workdir = args.workdir or Path("/tmp") / f"quality_{args.name}"
    workdir.mkdir(parents=True, exist_ok=True)
    split = make_split(args.data, workdir, args.holdout, args.split_seed)
    config = load_config(derived_config(args.recipe, workdir, args.epochs, args.set))
    start = time.perf_counter()
    limit = [TimeLimit(args.max_minutes)] if args.max_minutes else []
    info = run_training(config, verbose=2, extra_callbacks=limit)
    train_seconds = time.perf_counter() - start
    scored = score_trained(config, workdir, info.get("members", []))
    report = {
        "name": args.name, "recipe": str(args.recipe), "recipe_text": args.recipe.read_text(),
        "overrides": args.set,
        "holdout_cells": len(split["test_cells"]), "train_cells": split["train_cells"],
        "split_seed": args.split_seed, "target": "annotation: mask > 128, no blur",
        "train_seconds": train_seconds, "training": info,
        "stopped_by_time_limit": bool(limit and limit[0].hit), "max_minutes": args.max_minutes, **scored,
        "backend": keras.backend.backend(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "keras": keras.__version__},
    }
    out = args.out or ROOT / "bench" / "results" / f"quality_{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    h = report["headline"]
    print(f"{args.name}: pixel Dice {h['pixel_dice']:.4f} IoU {h['pixel_iou']:.4f} precision "
          f"{h['pixel_precision']:.4f} recall {h['pixel_recall']:.4f} on {h['source_cells']} unseen "
          f"source cells ({h['images']} images); wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
