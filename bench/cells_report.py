"""The README's cell-by-cell and whole-slide text, from bench/results/cells.json and slide.json."""

import json
import math
from pathlib import Path

from flexunet.model.record import ModelRecord

CELL_ROWS = (  # (model in cells.json, the scores inside it, label)
    ("cells", "cells", "shipped `all_classes_train_eval_infer.config` (cells head): cells split as validation chose "
                       "({split})"),
    ("cells", "outline_split", "the same model, cells parted at their outlines, overlaps given to both"),
    ("cells", "outline_split_without_overlaps", "the same model, each pixel to one cell (overlap channel unused)"),
    ("cells", "distance_split", "the same model, cells split by distance from their nuclei (today's split)"),
    ("softmax", "cells", "the all-classes recipe before (softmax, argmax, distance split)"),
)
TARGETS = (("cell_dice", "≥", 0.90), ("cell_fno", "≤", 0.10), ("nucleus_dice", "≥", 0.92),
           ("nc_ratio_median_relative_error", "≤", 0.10), ("nuclei_ratio", "≤", 1.05))


def _load(results: Path, name: str) -> dict | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _f(value, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _percent(value) -> str:
    text = _f(None if value is None else 100 * value, 1)
    return text if text == "–" else f"{text} %"


def _met(value: float, sign: str, bound: float) -> bool:
    return value is not None and not math.isnan(value) and (value >= bound if sign == "≥" else value <= bound)


def cells_table(results: Path) -> str:
    """The bench.cells table and what it says, or a note that it is not measured yet."""
    data = _load(results, "cells")
    if not data:
        return "(not measured yet: python -m bench.cells)"
    models, settings = data["models"], data["settings"]
    lines = ["| cells from | whole-cell Dice (FNo) | AJI | nucleus Dice | nuclei found / drawn | nucleus detection "
             "precision, recall | N/C ratio error (median) | nucleus pixel Dice |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    rule = ModelRecord.from_dict(models["cells"]["training"]).cells if "cells" in models else None
    split = {"outline": "at their outlines, overlaps given to both",
             "distance": "by distance from their nuclei"}[rule.cell_split if rule else "outline"]
    for model, scores, label in CELL_ROWS:
        if model not in models or scores not in models[model]:
            continue
        s, pixel = models[model][scores], models[model]["pixel"]
        lines.append(f"| {label.format(split=split)} | {_f(s['cell_dice'])} ({_f(s['cell_fno'])}) | "
                     f"{_f(s['aji_cell'])} | "
                     f"{_f(s['nucleus_dice'])} | {s['pred_nuclei']} / {s['truth_nuclei']} | "
                     f"{_f(s['nucleus_precision'])}, {_f(s['nucleus_recall'])} | "
                     f"{_percent(s['nc_ratio_median_relative_error'])} | "
                     f"{_f(pixel.get('pixel_dice_nucleus')) if scores == 'cells' else '(same)'} |")
    if "binary" in models:
        lines.append(f"| shipped `cpu_train_eval_infer.config` (nucleus only) | | | | | | | "
                     f"{_f(models['binary']['pixel']['pixel_dice'])} |")
    fields = settings["fields"]
    text = [f"\nMeasured by `{data['provenance']['command']}` (bench/results/cells.json): {settings['size']}×"
            f"{settings['size']} synthetic fields drawn with seed {settings['seed']}, a seed used for no choice, "
            f"{fields['counts']['train']} for training, {fields['counts']['valid']} for validation and "
            f"{fields['counts']['test']} unseen for the table ({fields['cells']} cells in all, in "
            f"{fields['fields_with_overlaps']} fields some overlap); each config with only its paths and image size "
            "changed, trained on 2 CPU cores. Per-cell scores as ISBI 2014 defines them: a true cell's whole-cell "
            "Dice with its best-matching cell, averaged over the cells above 0.7 (FNo: the share at or below); "
            "nuclei detected when they overlap by more than 0.6 both ways; the N/C ratio of each cell against the "
            "annotation's own cell (a pixel two cells share counts for both)."]
    if "cells" in models:
        s = models["cells"]["cells"]
        met = [f"{name} {sign} {bound}" for name, sign, bound in TARGETS if _met(s[name], sign, bound)]
        missed = [f"{name} {sign} {bound} (got {_f(s[name])})" for name, sign, bound in TARGETS
                  if not _met(s[name], sign, bound)]
        text.append(f"Targets met: {', '.join(met) or 'none'}." + (f" **Not met: {', '.join(missed)}.**" if missed
                                                                     else ""))
        if "binary" in models:
            gap = models["cells"]["pixel"]["pixel_dice_nucleus"] - models["binary"]["pixel"]["pixel_dice"]
            verdict = "within" if abs(gap) <= 0.01 else ("above by more than" if gap > 0 else "**below by more than**")
            text.append(f"The cells head's nucleus pixel Dice is {gap:+.3f} from the nucleus-only config's, "
                        f"{verdict} 0.01.")
    return "\n".join(lines) + "\n" + " ".join(text)


def slide_table(results: Path) -> str:
    """The bench.slide table and what it says, or a note that it is not measured yet."""
    data = _load(results, "slide")
    if not data:
        return "(not measured yet: python -m bench.slide)"
    lines = ["| slide | file | windows (background, skipped) | tiles | peak memory | seconds per tile | cells drawn "
             "on seams / away | found once on seams / away | found twice or split | missed |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for size, run in sorted(data["runs"].items(), key=lambda kv: int(kv[0])):
        s, c = run["summary"], run["cells"]
        lines.append(f"| {int(size):,} × {int(size):,} | {run['file_gb']:.1f} GB | {s['windows']} ({s['skipped']}) | "
                     f"{s['tiles']:,} | {run['peak_rss_gb']:.2f} GB | {run['seconds_per_tile']:.3f} s | "
                     f"{c['seam_drawn']} / {c['away_drawn']} | {c['seam_found_once']} / {c['away_found_once']} | "
                     f"{c['seam_more_than_once'] + c['away_more_than_once']} | "
                     f"{c['seam_missed'] + c['away_missed']} |")
    sizes = sorted(data["runs"], key=int)
    largest = data["runs"][sizes[-1]]
    whole, stage = data["time_per_tile_over_bare"], data.get("prediction_per_tile_over_bare")
    met = {"peak memory ≤ 2.5 GB": largest["peak_rss_gb"] <= 2.5,
           "peak within 1.2× of the smallest slide's": data["peak_largest_over_smallest"] <= 1.2,
           "time per tile ≤ 1.15× the bare predict": whole <= 1.15}
    verdict = (f"Targets met: {', '.join(k for k, v in met.items() if v) or 'none'}."
               + (f" **Not met: {', '.join(k for k, v in met.items() if not v)}.**" if not all(met.values()) else ""))
    part = ("" if stage is None else f" The thread that reads, predicts and blends the tiles worked {stage:.2f}× the "
            "bare predict's time per tile, while the main thread built, measured and wrote the cells.")
    if data.get("floor_over_bare") is not None:
        part += (f" Reading, predicting and blending windows of the slide alone, without cells, takes "
                 f"{data['floor_over_bare']:.2f}× the bare predict per tile: the job's floor on "
                 f"{data['machine'].get('cpu_count', '?')} cores before any cell is built.")
    return ("\n".join(lines) + f"\n\nMeasured by `{data['provenance']['command']}` (bench/results/slide.json) with "
            f"`4.tiled_infer` in a process of its own (peak resident memory from `/usr/bin/time -v`): the largest "
            f"slide's peak is {data['peak_largest_over_smallest']:.2f}× the smallest's; its time per tile, reading, "
            f"predicting, building and measuring cells and writing every output included, is "
            f"{whole:.2f}× a bare `model.predict` of its tiles "
            f"({data['bare_predict_seconds_per_tile']:.3f} s, the faster of `model.predict` and a `predict_on_batch` "
            f"loop).{part} Slides of "
            f"{', '.join(f'{int(s):,}' for s in sizes)} px drawn from 512-px fields of view, 20 % of them blank, "
            "read in "
            f"windows of {data['settings'].get('window_px', 2048):,} px (so that seams cut through cells). "
            + verdict)
