"""Markdown table of bench/quality.py results, for the README: one row per quality_<name>.json.

python bench/report.py [bench/results/quality_seed.json ...]   (default: every quality_*.json)
"""

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PLAIN = "tta=False,post=False,threshold=0.5"
LABELS = {  # also the default row order
    "seed": "seed recipe (7 levels, 31.1 M parameters)",
    "ensemble_mixed5": "shipped `train_eval_infer.config` (ensemble of 3 × 8 + 2 × 16 filters, soft targets, "
                       "8-view TTA)",
    "ensemble_mixed6": "ensemble of 3 × 8 + 3 × 16 filters, soft targets, 8-view TTA",
    "ensemble_mixed_rot90": "ensemble of 3 × 8 + 1 × 16 filters, soft targets, 8-view TTA",
    "ensemble_mixed": "ensemble of 3 × 8 + 1 × 16 filters, soft targets, flip TTA",
    "ensemble_soft_rot90": "ensemble of 3 × 8 filters, soft targets, 8-view TTA",
    "ensemble_soft": "ensemble of 3 × 8 filters, soft targets, flip TTA (shipped before)",
    "cpu_soft": "shipped `cpu_train_eval_infer.config` (8 filters, soft targets, seed 137)",
    "ensemble_binarized": "ensemble of 3 × 8 filters, binarized targets",
    "ensemble_folds": "cross-validation ensemble of 3 × 8 filters (`ensemble_folds`), soft targets",
    "ensemble_folds5": "cross-validation ensemble of 5 × 8 filters (`ensemble_folds`), soft targets",
    "candidate_b": "16 filters, batch 8 (shipped before the ensemble)",
    "cpu_candidate": "8 filters, batch 16, binarized targets",
    "candidate_a": "16 filters, batch 8, learning_rate 1e-3",
}
HEADER = ("| recipe | epochs (best) | training | pixel Dice | IoU | precision | recall | "
          "mean Dice per image | Dice without TTA/post-processing at 0.5 |")


def epochs(training: dict) -> str:
    """'epochs run (best epoch)', one per ensemble member joined by ' + '."""
    runs = training.get("member_runs") or [training]
    return " + ".join(f"{r['epochs_run']} ({r['best_epoch']})" for r in runs)


def row(report: dict) -> str:
    """One table row; the headline is the recipe's own settings at its selected threshold."""
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


def row_order(path: Path) -> tuple[int, str]:
    """LABELS order first, then other results by name."""
    name = path.stem.removeprefix("quality_")
    return (list(LABELS).index(name) if name in LABELS else len(LABELS), name)


def table(paths: list[Path]) -> str:
    reports = [json.loads(p.read_text()) for p in paths]
    cells = {(r["holdout_cells"], r["split_seed"]) for r in reports}
    if len(cells) > 1:
        raise SystemExit(f"error: the results use different splits {sorted(cells)}; compare like with like")
    lines = [HEADER, "| " + " | ".join(["---"] * 9) + " |", *map(row, reports)]
    held, seed = cells.pop()
    h = reports[0]["headline"]
    lines.append(f"\n{held} held-out source cells ({h['images']} images), split seed {seed}, "
                 f"target = annotation (mask > 128, no blur).")
    with_interval = ["pixel_dice_ci95_low" in r["headline"] for r in reports]
    if any(with_interval):
        lines.append("In brackets: the 95 % interval of the pixel Dice when the held-out source cells are "
                     "resampled (2,000 bootstrap samples of whole cells)"
                     + ("." if all(with_interval) else "; rows without one were scored before the interval "
                        "was added (bench/quality.py --score-only adds it)."))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(RESULTS.glob("quality_*.json"), key=row_order)
    if not paths:
        print(f"error: no quality_*.json in {RESULTS}; run bench/quality.py first", file=sys.stderr)
        return 1
    print(table(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
