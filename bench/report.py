"""The measured text of README.md and docs/performance.md, built only from the committed results in bench/results/.

python -m bench.report            print the generated blocks
python -m bench.report --write    rewrite the documents' generated blocks (<!-- bench:NAME --> ... <!-- /bench -->)
python -m bench.report --check    exit 1 when a result lacks its provenance or a document differs from the results
python -m bench.report --compare BASELINE CANDIDATE   paired difference of two quality.json entries
"""

import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np

from bench.cells_report import cells_table, slide_table
from bench.common import RESULTS, ROOT
from bench.findings import findings_text, paired
from flexunet.cli.demo_report import cells_text, images_of_cells
from flexunet.config import load_config
from flexunet.config.sections import TrainSection
from flexunet.model.record import ModelRecord
from flexunet.provenance import KEY, result_problems

DOCUMENTS = (ROOT / "README.md", ROOT / "docs" / "performance.md")
READS = ("train", "train_confirm", "infer", "generator", "demo", "fields", "fields_seed0_batch16", "fields_batch4",
         "cells", "slide")
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
INFER_ROWS = {  # infer.json rows: what the seed's API and the writer alone cost over a bare predict
    "seed API: infer() after load_model()": "`TensorflowUNet(config).load_model()` then `.infer()` (masks, "
                                            "overlays, cells.csv, montage)",
    "toolkit masks only": "masks and cells.csv only",
}
HEADER = ("| recipe | epochs (best) | training | pixel Dice | IoU | precision | recall | "
          "mean Dice per image | Dice without TTA/post-processing at 0.5 |")
BLOCK = re.compile(r"(<!-- bench:(\w+) -->\n)(.*?)(<!-- /bench -->)", re.DOTALL)
RECOVERED = ("† measured before results recorded their provenance: commit, command and time rebuilt from git history "
             "afterwards (`provenance.recovered` in the file says how).")


def load(results: Path, name: str) -> dict | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def origin(result: dict) -> str:
    """'commit ece1d31 (2026-11-30)', with ', uncommitted changes' when dirty and ' †' when recovered."""
    p = result.get(KEY) or {}
    if not p.get("commit"):
        return "no commit recorded"
    dirty = ", uncommitted changes" if p.get("dirty") else ""
    return f"commit {p['commit'][:7]} ({p['timestamp'][:10]}{dirty}){' †' if p.get('recovered') else ''}"


def machine_text(result: dict) -> str:
    p = result.get(KEY) or {}
    cores = f"{p['usable_cores']} cores" if p.get("usable_cores") else "cores not recorded"
    return f"{cores} of an {p.get('cpu_model') or 'unrecorded CPU'}, {p.get('backend') or 'unrecorded'} backend"


def epochs(training: ModelRecord) -> str:
    """'epochs run (best epoch)', one per ensemble member joined by ' + '."""
    runs = training.member_runs or (training.run,)
    return " + ".join(f"{r.epochs_run} ({r.best_epoch})" for r in runs)


def row(report: dict) -> str:
    """One results row; the headline is the recipe's own settings at its selected threshold."""
    h, t = report["headline"], ModelRecord.from_dict(report["training"])
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
    recovered = [r["name"] for r in reports if (r.get(KEY) or {}).get("recovered")]
    if recovered:
        rows = "All rows were" if len(recovered) == len(reports) else f"Rows {', '.join(recovered)} were"
        lines.append(f"{rows} measured before results carried their provenance: the commit, command and time in "
                     "each entry (`provenance`) were rebuilt from git history afterwards, not recorded by the run.")
    return "\n".join(lines)


def repeat_speeds(train: dict, name: str) -> list[float]:
    """Per interleaved repeat of train.json, the seed's mean epoch over the `name` run's mean epoch."""
    runs = train.get("runs", {})
    return [float(np.mean(s["epoch_seconds"]) / np.mean(t["epoch_seconds"]))
            for s, t in zip(runs.get("seed", []), runs.get(name, []))]


def _per_repeat(train: dict, name: str) -> str:
    speeds = repeat_speeds(train, name)
    return f" (per repeat: {', '.join(f'{v:.2f}' for v in speeds)})" if len(speeds) > 1 else ""


def speed(train: dict, name: str = "toolkit") -> float:
    """The seed's median epoch over the `name` run's."""
    return train["epoch_seconds"]["seed"]["median"] / train["epoch_seconds"][name]["median"]


def speed_table(results: Path) -> str:
    """The speed rows, from train.json, infer.json and generator.json (each row says which), and where each
    file came from."""
    lines = ["| what | reference | this toolkit | ratio | from |", "| --- | --- | --- | --- | --- |"]
    train, infer, generator = (load(results, n) for n in ("train", "infer", "generator"))
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
    if infer:
        ms, best = infer["ms_per_image"], infer["best_bare_batch"]
        bare = ms[f"bare predict batch {best}"]
        for name, what in INFER_ROWS.items():
            lines.append(f"| inference per image, seed's UNet, {what} | bare `model.predict` (batch {best}) in the "
                         f"same process: {bare:.1f} ms | {ms[name]:.1f} ms | {ms[name] / bare:.2f}x the bare predict "
                         "| bench/results/infer.json |")
        lines.append(f"| tiled inference of {infer['settings']['tiled_images']} raw cells (overlap "
                     f"{infer['settings']['overlap']}), `infer_tiles()` | `model.predict` of its "
                     f"{infer['settings']['tiles']} tiles | masks + overlays + montage | "
                     f"{infer['tiled_over_bare_tiles']:.2f}x the bare predict | bench/results/infer.json |")
    if generator:
        lines.append(f"| generator: one raw cell to 13 image/mask copies on disk | | "
                     f"{generator['ms_per_cell']['median']:.1f} ms | | bench/results/generator.json |")
    sources = [(n, r) for n, r in (("train", train), ("infer", infer), ("generator", generator)) if r]
    if sources:
        lines.append("\nEach file, its command, commit and machine (its `provenance`):\n")
        lines += [f"- bench/results/{n}.json: `{r[KEY]['command']}`, {origin(r)}, {machine_text(r)}"
                  for n, r in sources if r.get(KEY)]
        if any((r.get(KEY) or {}).get("recovered") for _, r in sources):
            lines.append(f"\n{RECOVERED}")
    return "\n".join(lines)


def fast_text(results: Path) -> str:
    """The README's one-line speed summary, from train.json, train_confirm.json and infer.json."""
    train, confirm, infer = (load(results, n) for n in ("train", "train_confirm", "infer"))
    if not (train and infer):
        return "- **Fast**: training and inference measured side by side with the seed's own code (see Speed)."
    again = f"; a second run: {speed(confirm):.2f}×" if confirm else ""
    ms, best = infer["ms_per_image"], infer["best_bare_batch"]
    ratio = ms[next(iter(INFER_ROWS))] / ms[f"bare predict batch {best}"]
    return (f"- **Fast**: training at the seed's config at {speed(train):.2f}× the speed of the seed's own code "
            f"(median epoch{again}), inference at {ratio:.2f}× the time of a bare `model.predict` (both measured "
            "side by side, see Speed).")


def training_text(results: Path) -> str:
    """docs/performance.md's training figures, from train.json and train_confirm.json."""
    train, confirm = load(results, "train"), load(results, "train_confirm")
    if not (train and "seed" in train["epoch_seconds"]):
        return "(not measured yet: python -m bench.train)"

    def spread(result: dict, name: str) -> str:
        speeds = repeat_speeds(result, name)
        if len(speeds) < 2:
            return "one repeat" if speeds else "no per-repeat record"
        return f"{min(speeds):.2f}× to {max(speeds):.2f}× per interleaved repeat"

    text = (f"With the seed's config the toolkit's epoch runs at {speed(train):.2f}× the seed's own speed (median "
            f"epoch after the first; {spread(train, 'toolkit')}; `{train[KEY]['command']}`, "
            f"bench/results/train.json, {origin(train)})")
    if confirm:
        text += (f"; a second run of the same benchmark without the variant (`{confirm[KEY]['command']}`, "
                 f"{origin(confirm)}) measured {speed(confirm):.2f}× ({spread(confirm, 'toolkit')})")
    variant = "toolkit train.deterministic=False"
    if variant in train["epoch_seconds"]:
        t, v = (train["epoch_seconds"][n]["median"] for n in ("toolkit", variant))
        text += (f".\n\nTensorFlow op determinism (`[train] deterministic = True`, the default: the same seed gives "
                 f"the same weights) is measured against `deterministic = False` in the first run: a median epoch "
                 f"of {t:.1f} s with it and {v:.1f} s without, {speed(train):.2f}× and {speed(train, variant):.2f}× "
                 f"the seed's speed (per repeat {', '.join(f'{x:.2f}' for x in repeat_speeds(train, 'toolkit'))} "
                 f"with it and {', '.join(f'{x:.2f}' for x in repeat_speeds(train, variant))} without)")
    recovered = any((r or {}).get(KEY, {}).get("recovered") for r in (train, confirm))
    return text + "." + (f"\n\n{RECOVERED}" if recovered else "")


def demo_text(results: Path) -> str:
    """The demo's timing and held-out scores, from results/demo.json (bash demo.sh --record ...)."""
    demo = load(results, "demo")
    if not demo:
        return "(no recorded demo run: bash demo.sh --record bench/results/demo.json)"
    p = demo[KEY]
    lines = [f"Recorded run (`{p['command']}`, {origin(demo)}, {p['usable_cores']} CPU cores): "
             f"{demo['total_seconds'] / 60:.1f} min after installation."]
    held = demo["held_out"]
    if "nucleus" in held:
        n = held["nucleus"]
        lines.append(f"Nucleus model, on {images_of_cells(n)}: pixel Dice {n['pixel_dice']:.3f} "
                     f"({n['pixel_dice_ci95_low']:.3f} to {n['pixel_dice_ci95_high']:.3f} over cells).")
    if "classes" in held:
        c = held["classes"]
        if "aji_cell" in c:
            lines.append(f"Nucleus + cytoplasm over all seven classes, on {images_of_cells(c)}: nucleus Dice "
                         f"{c['pixel_dice_nucleus']:.3f}, cytoplasm Dice {c['pixel_dice_cytoplasm']:.3f}; cell by "
                         f"cell, {cells_text(c)}.")
        else:
            lines.append(f"Nucleus + cytoplasm over all seven classes, on {images_of_cells(c)}: nucleus Dice "
                         f"{c['pixel_dice_nucleus']:.3f}, cytoplasm Dice {c['pixel_dice_cytoplasm']:.3f}; over the "
                         f"nuclei found in those images ({int(c['cells_found'])} of {int(c['cells_true'])}), the N/C "
                         f"ratio is off by {c['nc_ratio_mae']:.3f} on average "
                         f"({100 * c['nc_ratio_mean_relative_error']:.1f} % relative) and the nucleus area by "
                         f"{100 * c['nucleus_area_px_mean_relative_error']:.1f} %.")
    if "fields" in held:
        f = held["fields"]
        lines.append(f"Cells on {int(f['images'])} unseen fields of view, where cells touch and overlap: "
                     f"{cells_text(f)}.")
    return " ".join(lines) + (f"\n\n{RECOVERED}" if p.get("recovered") else "")


def fields_text(results: Path) -> str:
    """The fields-of-view benchmark's figures, from results/fields.json (python -m bench.fields)."""
    fields = load(results, "fields")
    if not fields:
        return "(not measured yet: python -m bench.fields)"
    chosen, forced = fields["test_chosen_on_validation"], fields["test_keep_largest_true"]
    counts, size, seed = fields["fields"]["counts"], fields["settings"]["size"], fields["settings"]["seed"]
    shipped = load_config(ROOT / "projects" / "Pap-Smear" / "cpu_train_eval_infer.config").train
    trained = ModelRecord.from_dict(fields["training"])
    batch = trained.run.batch_size or shipped.batch_size
    steps = math.ceil(counts["train"] / batch)
    target = ("The target, 0.90, is reached." if chosen["pixel_dice"] >= 0.90 else
              "**The target, 0.90, is not reached.**")
    return (f"Measured by `{fields[KEY]['command']}` (bench/results/fields.json, {origin(fields)}): {size}×{size} "
            f"synthetic fields drawn with seed {seed}, the shipped `cpu_train_eval_infer.config` with only its "
            f"paths and image size changed. Its batch size of {shipped.batch_size} would give "
            f"{math.ceil(counts['train'] / shipped.batch_size)} steps per epoch on the {counts['train']} training "
            f"fields, so `min_steps_per_epoch = {shipped.min_steps_per_epoch}` trained them at batch {batch} "
            f"({steps} steps per epoch) for {trained.run.epochs_run} epochs (best {trained.run.best_epoch}). On the "
            f"{counts['test']} unseen test fields the nucleus pixel Dice is **{chosen['pixel_dice']:.3f}** "
            f"({chosen['pixel_dice_ci95_low']:.3f} to {chosen['pixel_dice_ci95_high']:.3f}) with the clean-up "
            f"chosen on the {counts['valid']} validation fields (keep_largest = {bool(chosen['keep_largest'])}, "
            f"fill_holes = {bool(chosen['fill_holes'])}), finding {int(chosen['cells_found'])} of the "
            f"{int(chosen['cells_true'])} nuclei; the same model with keep_largest = True scores "
            f"{forced['pixel_dice']:.3f} and finds {int(forced['cells_found'])}. {target}"
            f"{earlier_fields_text(seed, results, shipped)}"
            + (f"\n\n{RECOVERED}" if fields[KEY].get("recovered") else ""))


def earlier_fields_text(seed: int, results: Path, shipped: TrainSection) -> str:
    """The seed-0 fields runs that led to min_steps_per_epoch (fields_seed0_batch16.json, fields_batch4.json)."""
    before, smaller = load(results, "fields_seed0_batch16"), load(results, "fields_batch4")
    if not (before and smaller):
        return ""
    fresh = " These fields were not used for any choice." if seed != 0 else ""
    batch = ModelRecord.from_dict(before["training"]).run.batch_size or shipped.batch_size
    return (f"{fresh} On the fields drawn with seed 0, before `min_steps_per_epoch`, batch {batch} trained "
            f"{math.ceil(before['fields']['counts']['train'] / batch)} steps per epoch and scored "
            f"{before['test_chosen_on_validation']['pixel_dice']:.3f} (bench/results/fields_seed0_batch16.json); "
            f"batch 4 scored {smaller['test_chosen_on_validation']['pixel_dice']:.3f} "
            f"(bench/results/fields_batch4.json), which is what the rule of at least "
            f"{shipped.min_steps_per_epoch} steps per epoch was chosen from.")


def blocks(results: Path = RESULTS) -> dict[str, str]:
    quality = json.loads((results / "quality.json").read_text(encoding="utf-8"))
    return {"results": results_table(quality), "findings": findings_text(quality),
            "speed": speed_table(results), "fast": fast_text(results), "training": training_text(results),
            "demo": demo_text(results), "fields": fields_text(results), "cells": cells_table(results),
            "slide": slide_table(results)}


def provenance_problems(results: Path = RESULTS) -> list[str]:
    """'FILE[: ENTRY]: problem' for each result the report reads that does not state its provenance."""
    found = []
    quality = results / "quality.json"
    for name, entry in json.loads(quality.read_text(encoding="utf-8")).items():
        found += [f"{quality}: entry {name}: {p}" for p in result_problems(entry)]
    for name in READS:
        data = load(results, name)
        found += [f"{results / name}.json: {p}" for p in result_problems(data)] if data is not None else []
    return found


def rewrite(text: str, generated: dict[str, str]) -> str:
    """`text` with every generated block replaced by its current content."""
    return BLOCK.sub(lambda m: f"{m[1]}{generated[m[2]]}\n{m[4]}" if m[2] in generated else m[0], text)


def check(results: Path, documents: tuple[Path, ...], generated: dict[str, str]) -> list[str]:
    """Every problem --check reports: results without provenance, unknown blocks, documents out of date."""
    found = provenance_problems(results)
    for path in documents:
        text = path.read_text(encoding="utf-8")
        found += [f"{path}: unknown generated block {m[2]!r}" for m in BLOCK.finditer(text) if m[2] not in generated]
        if rewrite(text, generated) != text:
            found.append(f"{path} differs from bench/results; run: python -m bench.report --write")
    return found


def main(argv: list[str] | None = None, results: Path = RESULTS, documents: tuple[Path, ...] = DOCUMENTS) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--compare", nargs=2, metavar=("BASELINE", "CANDIDATE"))
    args = parser.parse_args(argv)
    if args.compare:
        d = paired(json.loads((results / "quality.json").read_text()), *args.compare)
        print(f"{args.compare[1]} - {args.compare[0]}: {d['difference']:+.4f} (95 % paired interval "
              f"{d['low']:+.4f} to {d['high']:+.4f}, {d['cells']} cells)")
        return 0
    generated = blocks(results)
    if args.check:
        problems = check(results, documents, generated)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1 if problems else 0
    if not args.write:
        print("\n\n".join(generated.values()))
        return 0
    for path in documents:
        path.write_text(rewrite(path.read_text(encoding="utf-8"), generated), encoding="utf-8")
        print(f"rewrote the generated blocks of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
