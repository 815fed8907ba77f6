"""Honest accuracy: train a recipe on a grouped split of the real data, score the unseen source cells.

python -m bench.quality --recipe bench/recipes/seed.config --name seed [--epochs N] [--max-minutes M]
An interrupted run continues with --set train.resume=True; --max-minutes ends training after the
epoch that crosses the budget (recorded) and scores the best checkpoint so far; --score-only scores
a finished run's model again (after a change to the scoring) without training. Each recipe's result,
with its per-cell pixel counts (for paired comparisons), is one entry of bench/results/quality.json;
the held-out per-image scores also go to <workdir>/holdout_per_image.csv (flexunet-compare). Each
entry carries its own provenance (commit, command, time, versions, CPU), taken when the run starts.
Runs on CPU (slowly) and on a GPU with KERAS_BACKEND=jax.
"""

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import keras
import numpy as np

from bench.common import REAL_DATA, RESULTS, add_overrides, machine
from flexunet.config import load_config
from flexunet.config.edit import read_ini, write_variant
from flexunet.data.dataset import MaskOptions, PairSource
from flexunet.data.pairs import pair_files, source_cell_id
from flexunet.evaluation.bootstrap import cell_counts
from flexunet.evaluation.scores import PER_IMAGE_COLUMNS, score_predictions, summarize
from flexunet.fsutil import csv_text
from flexunet.inference.postprocess import MaskRule, configured_rule
from flexunet.inference.predict import model_predictor
from flexunet.model.files import best_model_files
from flexunet.model.record import ModelRecord
from flexunet.model.store import load_trained, load_unet, member_configs
from flexunet.provenance import KEY, Provenance, write_json
from flexunet.training.run import run_training

TARGET = MaskOptions(binarize=True, threshold=128, blur=False)
PER_IMAGE_CSV = "holdout_per_image.csv"
QUALITY = RESULTS / "quality.json"


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
    """The recipe trained on the split's train cells (validated as it says, "eval" becoming "grouped")."""
    split = workdir / "split"
    keys = {"train": {"image_datapath": f'"{split}/train/images"', "mask_datapath": f'"{split}/train/masks"',
                      "model_dir": f'"{workdir}/models"', "eval_dir": f'"{workdir}/eval"',
                      "epoch_change_infer": "False"},
            "eval": {"image_datapath": f'"{split}/test/images"', "mask_datapath": f'"{split}/test/masks"',
                     "output_dir": f'"{workdir}/eval_output"'}}
    if read_ini(recipe).get("train", "validation", fallback="").strip("\"' ") == "eval":
        keys["train"]["validation"] = '"grouped"'
    if epochs:
        keys["train"]["epochs"] = str(epochs)
    add_overrides(keys, overrides)
    return write_variant(recipe, workdir / "train_eval_infer.config", keys, drop=("infer", "tiledinfer", "test"))


def holdout_source(config, workdir: Path) -> PairSource:
    pairs = pair_files(workdir / "split/test/images", workdir / "split/test/masks", "test", "test")
    return PairSource(pairs, config.model.input_size, config.model.image_channels, TARGET).cache(progress=False)


def score_key(tta: bool, rot90: bool, post: bool, threshold: str = "selected") -> str:
    return f"tta={tta}{'+rot90' if tta and rot90 else ''},post={post},threshold={threshold}"


def score_model(model, rule: MaskRule, source: PairSource, tta_options=(False, True), post_options=(False, True),
                rot90: bool = False, rows_out: dict | None = None) -> dict:
    """Scores on the held-out cells against the annotation (mask > 128, no blur) with and without TTA and
    the rule's clean-up (post), at the rule's threshold and at 0.5; rows_out receives the rows by key."""
    results, names = {}, [p.image.name for p in source.pairs]
    for tta in tta_options:
        predict = model_predictor(model, tta, rot90)
        for post in post_options:
            for thr_name, thr in (("selected", rule.threshold), ("0.5", 0.5)):
                start = time.perf_counter()
                variant = MaskRule(thr, rule.keep_largest and post, rule.fill_holes and post)
                rows, *_ = score_predictions(predict, source.images, source.masks, names, variant)
                key = score_key(tta, rot90, post, thr_name)
                results[key] = {**summarize(rows), "threshold": thr, "keep_largest": variant.keep_largest,
                                "fill_holes": variant.fill_holes, "seconds": time.perf_counter() - start}
                if rows_out is not None:
                    rows_out[key] = rows
    return results


def score_trained(config, workdir: Path, members: list[str]) -> dict:
    """Scores of the trained model (and of each ensemble member with the recipe's TTA and the chosen rule) on
    the held-out cells, and the headline's pixel counts per source cell."""
    trained = load_trained(config)
    model, rule = trained.model, configured_rule(trained.record, config.postprocess)
    source = holdout_source(config, workdir)
    post, rows = config.postprocess, {}
    scores = score_model(model, rule, source, rot90=post.tta_rot90, rows_out=rows)
    both = MaskRule(rule.threshold, True, True)  # the clean-up the recipes set before it was chosen on validation
    scores.update({k.replace("post=True", "post=both"): v for k, v in score_model(
        model, both, source, (post.tta,), (True,), post.tta_rot90).items() if "selected" in k})
    key = score_key(post.tta, post.tta_rot90, True)
    (workdir / PER_IMAGE_CSV).write_text(csv_text(rows[key], PER_IMAGE_COLUMNS))
    files = best_model_files(workdir / "models", members) if members else []
    member_scores = [score_model(load_unet(c, f), rule, source, (post.tta,), (True,), post.tta_rot90)[key]
                     for c, f in zip(member_configs(config, len(files)), files)]
    cells = {cell: counts.tolist() for cell, counts in sorted(cell_counts(rows[key]).items())}
    return {"scores": scores, "headline": scores[key], "member_headlines": member_scores, "cell_counts": cells}


def load_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def save_result(path: Path, name: str, report: dict, provenance: Provenance) -> None:
    """Set results[name] = report, with its own provenance, in the results file (one JSON for every recipe),
    rewritten atomically."""
    results = load_results(path)
    results[name] = {**report, KEY: provenance.to_json()}
    write_json(path, dict(sorted(results.items())))


def rescore(args, command: str | None) -> int:
    """--score-only: replace the scores of an earlier result, keeping its training record (and the
    provenance of its training run as training_provenance)."""
    provenance = Provenance.collect(command)
    workdir = args.workdir or Path("/tmp") / f"quality_{args.name}"
    config_path = workdir / "train_eval_infer.config"
    report = load_results(args.out).get(args.name)
    if report is None or not config_path.is_file():
        print(f"error: --score-only needs an earlier run: {args.name} in {args.out} and {config_path}",
              file=sys.stderr)
        return 1
    members = list(ModelRecord.from_dict(report["training"]).members)
    report.update(score_trained(load_config(config_path), workdir, members))
    report["rescored"] = "scores recomputed with --score-only; training figures from the original run"
    if KEY in report:
        report.setdefault("training_provenance", report[KEY])
    save_result(args.out, args.name, report, provenance)
    print(f"{args.name}: pixel Dice {report['headline']['pixel_dice']:.4f}; rewrote {args.out}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", required=True, type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--data", type=Path, default=REAL_DATA)
    parser.add_argument("--holdout", type=int, default=32, help="source cells held out (>= 30)")
    parser.add_argument("--split-seed", type=int, default=2026)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop training after the epoch that ends past this budget")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=QUALITY, help=f"results file (default {QUALITY})")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a recipe key, e.g. --set train.workers=8")
    parser.add_argument("--score-only", action="store_true",
                        help="score the model the workdir holds again with the current scoring code")
    args = parser.parse_args(argv)
    command = None if argv is None else shlex.join(["python", "-m", "bench.quality", *argv])
    if args.score_only:
        return rescore(args, command)
    if not (args.data / "images").is_dir():
        print(f"error: {args.data}/images not found (the real Pap-Smear data)", file=sys.stderr)
        return 1
    workdir = args.workdir or Path("/tmp") / f"quality_{args.name}"
    workdir.mkdir(parents=True, exist_ok=True)
    provenance = Provenance.collect(command)
    split = make_split(args.data, workdir, args.holdout, args.split_seed)
    config = load_config(derived_config(args.recipe, workdir, args.epochs, args.set))
    start = time.perf_counter()
    limit = [TimeLimit(args.max_minutes)] if args.max_minutes else []
    info = run_training(config, verbose=2, extra_callbacks=limit)
    report = {
        "name": args.name, "recipe": str(args.recipe), "recipe_text": args.recipe.read_text(), "overrides": args.set,
        "holdout_cells": len(split["test_cells"]), "train_cells": split["train_cells"],
        "split_seed": args.split_seed, "target": "annotation: mask > 128, no blur",
        "train_seconds": time.perf_counter() - start, "training": info.to_dict(),
        "stopped_by_time_limit": bool(limit and limit[0].hit), "max_minutes": args.max_minutes,
        **score_trained(config, workdir, list(info.members)),
        "backend": keras.backend.backend(), "machine": machine(),
    }
    save_result(args.out, args.name, report, provenance)
    h = report["headline"]
    print(f"{args.name}: pixel Dice {h['pixel_dice']:.4f} IoU {h['pixel_iou']:.4f} precision "
          f"{h['pixel_precision']:.4f} recall {h['pixel_recall']:.4f} on {h['source_cells']} unseen "
          f"source cells ({h['images']} images); wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
