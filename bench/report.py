"""The README's measured tables, built only from the committed results in bench/results/.

python -m bench.report            print the tables
python -m bench.report --write    rewrite the README's generated blocks (<!-- bench:NAME --> ... <!-- /bench -->)
python -m bench.report --check    exit 1 when the README differs from the results (a test runs this)
python -m bench.report --compare BASELINE CANDIDATE   paired difference of two quality.json entries
"""

import argparse
import json
import math
import re
import sys

import numpy as np

from bench.common import RESULTS, ROOT
from flexunet.config import load_config
from flexunet.evaluation.bootstrap import bootstrap_dice, percentile_interval, pooled_dice

README = ROOT / "README.md"
PLAIN = "tta=False,post=False,threshold=0.5"
LABELS = {  # also the row order
    "seed": "seed recipe (7 levels, 31.1 M parameters)",
    "ensemble_mixed5": "shipped `train_eval_infer.config` (ensemble of 3 × 8 + 2 × 16 filters, soft targets, "
                       "8-view TTA, keep_largest and fill_holes set)",
    "ensemble_mixed6": "ensemble of 3 × 8 + 3 × 16 filters, soft targets, 8-view TTA",
    "ensemble_mixed_rot90": "ensemble of 3 × 8 + 1 × 16 filters, soft targets, 8-view TTA",
    "ensemble_mixed": "ensemble of 3 × 8 + 1 × 16 filters, soft targets, flip TTA",
    "ensemble_soft_rot90": "ensemble of 3 × 8 filters, soft targets, 8-view TTA",
    "ensemble_soft": "ensemble of 3 × 8 filters, soft targets, flip TTA (shipped before)",
    "cpu_auto": "shipped `cpu_train_eval_infer.config` (8 filters, soft targets, seed 137, clean-up chosen on "
                "validation)",
    "cpu_batch4": "the shipped CPU config with `[train] batch_size = 4` (4 times the steps per epoch)",
    "cpu_soft": "8 filters, soft targets, seed 137, keep_largest and fill_holes set (the CPU config before)",
    "ensemble_binarized": "ensemble of 3 × 8 filters, binarized targets",
    "ensemble_folds": "cross-validation ensemble of 3 × 8 filters (`ensemble_folds`), soft targets",
    "ensemble_folds5": "cross-validation ensemble of 5 × 8 filters (`ensemble_folds`), soft targets",
    "candidate_b": "16 filters, batch 8 (shipped before the ensemble)",
    "cpu_candidate": "8 filters, batch 16, binarized targets",
    "candidate_a": "16 filters, batch 8, learning_rate 1e-3",
}
HEADER = ("| recipe | epochs (best) | training | pixel Dice | IoU | precision | recall | "
          "mean Dice per image | Dice without TTA/post-processing at 0.5 |")
BLOCK = re.compile(r"(<!-- bench:(\w+) -->\n)(.*?)(<!-- /bench -->)", re.S)


def epochs(training: dict) -> str:
    """'epochs run (best epoch)', one per ensemble member joined by ' + '."""
    runs = training.get("member_runs") or [training]
    return " + ".join(f"{r['epochs_run']} ({r['best_epoch']})" for r in runs)


def row(report: dict) -> str:
    """One results row; the headline is the recipe's own settings at its selected threshold."""
    h, t = report["headline"], report["training"]
    minutes = f"{report['train_seconds'] / 60:.0f} min"
    if "train.resume=True" in report.get("overrides", []):
        minutes += " (resumed; earlier sittings not counted)"
    stopped = " (time limit)" if report.get("stopped_by_time_limit") else ""
    plain = report["scores"][PLAIN]["pixel_dice"]
    interval = (f" ({h['pixel_dice_ci95_low']:.3f}–{h['pixel_dice_ci95_high']:.3f})"
                if "pixel_dice_ci95_low" in h else "")
    return (f"| {LABELS.get(report['name'], report['name'])} | {epochs(t)}{stopped} | {minutes} | "
            f"**{h['pixel_dice']:.4f}**{interval} | {h['pixel_iou']:.4f} | {h['pixel_precision']:.4f} | "
            f"{h['pixel_recall']:.4f} | {h['mean_dice']:.4f} | {plain:.4f} |")


def row_order(name: str) -> tuple[int, str]:
    """LABELS order first, then other results by name."""
    return (list(LABELS).index(name) if name in LABELS else len(LABELS), name)


def results_table(results: dict[str, dict]) -> str:
    reports = [results[name] for name in sorted(results, key=row_order)]
    splits = {(r["holdout_cells"], r["split_seed"]) for r in reports}
    if len(splits) > 1:
        raise SystemExit(f"error: the results use different splits {sorted(splits)}; compare like with like")
    lines = [HEADER, "| " + " | ".join(["---"] * 9) + " |", *map(row, reports)]
    held, seed = splits.pop()
    lines.append(f"\n{held} held-out source cells ({reports[0]['headline']['images']} images), split seed {seed}, "
                 "target = annotation (mask > 128, no blur).")
    with_interval = ["pixel_dice_ci95_low" in r["headline"] for r in reports]
    if any(with_interval):
        lines.append("In brackets: the 95 % interval of the pixel Dice when the held-out source cells are "
                     "resampled (2,000 bootstrap samples of whole cells)"
                     + ("." if all(with_interval) else "; rows without one were scored before the interval "
                        "was added (python -m bench.quality --score-only adds it)."))
    return "\n".join(lines)


def paired(results: dict[str, dict], baseline: str, candidate: str, samples: int = 2000) -> dict:
    """Candidate minus baseline pixel Dice on the same held-out cells, with its paired 95 % interval."""
    a, b = (results[n].get("cell_counts") for n in (baseline, candidate))
    if not (a and b) or set(a) != set(b):
        raise SystemExit(f"error: {baseline} and {candidate} need per-cell counts of the same cells "
                         "(bench.quality writes them)")
    cells = sorted(a)
    counts = np.array([[a[c] for c in cells], [b[c] for c in cells]])
    draws = bootstrap_dice(counts, samples)
    low, high = percentile_interval(draws[1] - draws[0])
    dice = pooled_dice(counts)
    return {"difference": float(dice[1] - dice[0]), "low": low, "high": high, "cells": len(cells)}


def repeat_speeds(train: dict, name: str) -> list[float]:
    """Per interleaved repeat of train.json, the seed's mean epoch over the `name` run's mean epoch."""
    runs = train.get("runs", {})
    return [float(np.mean(s["epoch_seconds"]) / np.mean(t["epoch_seconds"]))
            for s, t in zip(runs.get("seed", []), runs.get(name, []))]


def _per_repeat(train: dict, name: str) -> str:
    speeds = repeat_speeds(train, name)
    return f" (per repeat: {', '.join(f'{v:.2f}' for v in speeds)})" if len(speeds) > 1 else ""


def speed_table() -> str:
    """The speed rows, from train.json, infer.json and generator.json (each row says which)."""
    lines = ["| what | reference | this toolkit | ratio | from |", "| --- | --- | --- | --- | --- |"]
    train = _load("train")
    if train and "seed" in train["epoch_seconds"]:
        s, t = train["epoch_seconds"]["seed"]["median"], train["epoch_seconds"]["toolkit"]["median"]
        cells = train["settings"]["cells"]
        lines.append(f"| training epoch, the seed's own config and code, {cells} source cells, batch 4 (median "
                     f"epoch after the first) | seed's own trainer (TF 2.15): {s:.1f} s | 1.train: {t:.1f} s | "
                     f"{s / t:.3f}x the seed's speed{_per_repeat(train, 'toolkit')} | bench/results/train.json |")
        for name, v in train["epoch_seconds"].items():
            if name.startswith("toolkit "):
                lines.append(f"| the same, `1.train` with `{name.removeprefix('toolkit ')}` | {s:.1f} s | "
                             f"{v['median']:.1f} s | {s / v['median']:.3f}x the seed's speed"
                             f"{_per_repeat(train, name)} | bench/results/train.json |")
    infer = _load("infer")
    if infer:
        ms, best = infer["ms_per_image"], infer["best_bare_batch"]
        bare = ms[f"bare predict batch {best}"]
        for name in ("toolkit masks + overlays + montage", "toolkit masks only"):
            lines.append(f"| inference per image, seed's UNet, {name.removeprefix('toolkit ')} | bare "
                         f"`model.predict` (batch {best}): {bare:.1f} ms | {ms[name]:.1f} ms | "
                         f"{ms[name] / bare:.2f}x the bare predict | bench/results/infer.json |")
        lines.append(f"| tiled inference of {infer['settings']['tiled_images']} raw cells (overlap "
                     f"{infer['settings']['overlap']}) | `model.predict` of its {infer['settings']['tiles']} tiles | "
                     f"masks + overlays + montage | {infer['tiled_over_bare_tiles']:.2f}x the bare predict | "
                     "bench/results/infer.json |")
    generator = _load("generator")
    if generator:
        lines.append(f"| generator: one raw cell to 13 image/mask copies on disk | | "
                     f"{generator['ms_per_cell']['median']:.1f} ms | | bench/results/generator.json |")
    return "\n".join(lines)


def demo_text() -> str:
    """The demo's timing and held-out scores, from results/demo.json (bash demo.sh --record ...)."""
    demo = _load("demo")
    if not demo:
        return "(no recorded demo run: bash demo.sh --record bench/results/demo.json)"
    cores = demo["machine"]["usable_cores"]
    lines = [f"Recorded run (`{demo['command']}`, {cores} CPU cores): {demo['total_seconds'] / 60:.1f} min after "
             "installation."]
    held = demo["held_out"]
    if "nucleus" in held:
        n = held["nucleus"]
        lines.append(f"Nucleus model, held-out synthetic cells: pixel Dice {n['pixel_dice']:.3f} "
                     f"({n['pixel_dice_ci95_low']:.3f} to {n['pixel_dice_ci95_high']:.3f} over cells).")
    if "classes" in held:
        c = held["classes"]
        lines.append(f"Nucleus + cytoplasm over all seven classes: nucleus Dice {c['pixel_dice_nucleus']:.3f}, "
                     f"cytoplasm Dice {c['pixel_dice_cytoplasm']:.3f}; N/C ratio off by {c['nc_ratio_mae']:.3f} on "
                     f"average ({100 * c['nc_ratio_mean_relative_error']:.1f} % relative), nucleus area by "
                     f"{100 * c['nucleus_area_px_mean_relative_error']:.1f} %, over {int(c['cells_found'])} of "
                     f"{int(c['cells_true'])} held-out cells found.")
    if "fields" in held:
        f = held["fields"]
        lines.append(f"Fields of view: nucleus Dice {f['pixel_dice']:.3f}.")
    return " ".join(lines)


def fields_text() -> str:
    """The fields-of-view benchmark's figures, from results/fields.json (python -m bench.fields)."""
    fields = _load("fields")
    if not fields:
        return "(not measured yet: python -m bench.fields)"
    chosen, forced = fields["test_chosen_on_validation"], fields["test_keep_largest_true"]
    counts, size, seed = fields["fields"]["counts"], fields["settings"]["size"], fields["settings"]["seed"]
    shipped = load_config(ROOT / "projects" / "Pap-Smear" / "cpu_train_eval_infer.config").train
    batch = fields.get("batch_size") or shipped.batch_size
    steps = math.ceil(counts["train"] / batch)
    target = ("The target, 0.90, is reached." if chosen["pixel_dice"] >= 0.90 else
              "**The target, 0.90, is not reached.**")
    return (f"Measured by `python -m bench.fields --seed {seed}` (bench/results/fields.json): {size}×{size} "
            f"synthetic fields drawn with seed {seed}, the shipped `cpu_train_eval_infer.config` with only its "
            f"paths and image size changed. Its batch size of {shipped.batch_size} would give "
            f"{math.ceil(counts['train'] / shipped.batch_size)} steps per epoch on the {counts['train']} training "
            f"fields, so `min_steps_per_epoch = {shipped.min_steps_per_epoch}` trained them at batch {batch} "
            f"({steps} steps per epoch) for {fields['epochs_run']} epochs (best {fields['best_epoch']}). On the "
            f"{counts['test']} unseen test fields the nucleus pixel Dice is **{chosen['pixel_dice']:.3f}** "
            f"({chosen['pixel_dice_ci95_low']:.3f} to {chosen['pixel_dice_ci95_high']:.3f}) with the clean-up "
            f"chosen on the {counts['valid']} validation fields (keep_largest = {bool(chosen['keep_largest'])}, "
            f"fill_holes = {bool(chosen['fill_holes'])}), finding {int(chosen['cells_found'])} of the "
            f"{int(chosen['cells_true'])} nuclei; the same model with keep_largest = True scores "
            f"{forced['pixel_dice']:.3f} and finds {int(forced['cells_found'])}. {target}{earlier_fields_text(seed)}")


def earlier_fields_text(seed: int) -> str:
    """The seed-0 fields runs that led to min_steps_per_epoch (results/fields_seed0_batch16.json, fields_batch4.json)."""
    before, smaller = _load("fields_seed0_batch16"), _load("fields_batch4")
    if not (before and smaller):
        return ""
    fresh = " These fields were not used for any choice." if seed != 0 else ""
    return (f"{fresh} On the fields drawn with seed 0, before "
            f"`min_steps_per_epoch`, batch 16 trained 2 steps per epoch and scored "
            f"{before['test_chosen_on_validation']['pixel_dice']:.3f} (bench/results/fields_seed0_batch16.json); "
            f"batch 4 scored {smaller['test_chosen_on_validation']['pixel_dice']:.3f} "
            f"(bench/results/fields_batch4.json), which is what the rule of at least 8 steps per epoch "
            f"was chosen from.")


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def blocks() -> dict[str, str]:
    quality = json.loads((RESULTS / "quality.json").read_text())
    return {"results": results_table(quality), "speed": speed_table(), "demo": demo_text(), "fields": fields_text()}


def rewrite(text: str, generated: dict[str, str]) -> str:
    """`text` with every generated block replaced by its current content."""
    return BLOCK.sub(lambda m: f"{m[1]}{generated[m[2]]}\n{m[4]}" if m[2] in generated else m[0], text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--compare", nargs=2, metavar=("BASELINE", "CANDIDATE"))
    args = parser.parse_args(argv)
    if args.compare:
        d = paired(json.loads((RESULTS / "quality.json").read_text()), *args.compare)
        print(f"{args.compare[1]} - {args.compare[0]}: {d['difference']:+.4f} (95 % paired interval "
              f"{d['low']:+.4f} to {d['high']:+.4f}, {d['cells']} cells)")
        return 0
    generated = blocks()
    if not (args.write or args.check):
        print("\n\n".join(generated.values()))
        return 0
    text = README.read_text(encoding="utf-8")
    new = rewrite(text, generated)
    if args.check:
        if new != text:
            print(f"{README} differs from bench/results; run: python -m bench.report --write", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    print(f"rewrote the generated blocks of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
