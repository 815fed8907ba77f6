"""The evaluate command: the best model on [eval] (or [test]); Keras loss and metrics, per-image and
pooled scores with an interval over source cells (per label class and per Herlev class where known),
the per-cell measurement errors, CSVs and pictures in the section's output_dir."""

import csv
from pathlib import Path

import numpy as np

from flexunet import plots
from flexunet.config import Config
from flexunet.data.dataset import PairSource, SegmentationBatches
from flexunet.data.labels import class_names
from flexunet.data.sources import Folders, folder_source, sample_spec
from flexunet.evaluation.cells import CELL_ERROR_COLUMNS, cell_pairs, error_summary
from flexunet.evaluation.scores import per_image_columns, score_predictions, summarize
from flexunet.fsutil import atomic_write_text, csv_text, prepare_output_dir
from flexunet.inference.postprocess import MaskRule
from flexunet.inference.predict import postprocess_predictor, predict_batch_size
from flexunet.model.files import read_info
from flexunet.model.store import load_trained

CLASSES_FILE = "classes.csv"


def seen_in_training(config: Config, section: str) -> str | None:
    """Why the [section] cells are not unseen by the model (a fold ensemble trained on [eval]), or None."""
    info = read_info(config.train.model_dir)
    if section == "eval" and info.get("member_validation") and config.train.validation == "eval":
        return (f"members 2 to {len(info['member_validation'])} of this ensemble_folds ensemble trained on "
                "the [eval] cells, so this figure is optimistic; the [test] section gives the honest one")
    return None


def herlev_classes(images_dir: str | Path) -> dict[str, str]:
    """{file name: Herlev class} from the classes.csv split_master writes beside a split of several
    classes (found next to the images folder or one level up); {} when there is none."""
    for folder in (Path(images_dir).parent, Path(images_dir).parent.parent):
        path = folder / CLASSES_FILE
        if path.is_file():
            with open(path, newline="") as handle:
                return {row["file"]: row["class"] for row in csv.DictReader(handle)}
    return {}


def _keras_scores(model, source: PairSource, batch: int, metrics: tuple[str, ...]) -> dict[str, float]:
    """The compiled loss and metrics over the source, printed the seed's way ("Test loss", "Test accuracy")."""
    scores = model.evaluate(SegmentationBatches(source, batch), verbose=0, return_dict=True)
    names = ["loss", *metrics]
    values = [float(scores.get(n, scores.get("compile_metrics", {}).get(n, float("nan")))) for n in names]
    print(f"Test loss    :{round(values[0], 4)}")
    if len(values) > 1:
        print(f"Test accuracy:{round(values[1], 4)}")
    for n, v in zip(names, values):
        print(f"  {n}: {v:.4f}")
    return dict(zip(names, values))


def run_evaluation(config: Config, section: str = "eval") -> dict:
    """Evaluate the best model on the [section] folders; write CSVs and pictures to its output_dir."""
    s = getattr(config, section)
    model, rule = load_trained(config, compile_model=True)
    caveat = seen_in_training(config, section)
    if caveat:
        print(f"Warning: {caveat}")
    folders = Folders(*config.folders(section, f"for evaluation ([{section}])"))
    source = folder_source(folders, sample_spec(config.model, config.mask, training=False)).cache(
        desc=f"Loading [{section}]", progress=False)
    protected = {"config folder": Path(config.base_dir), "model folder": Path(config.train.model_dir),
                 "evaluation images": Path(s.image_datapath), "evaluation masks": Path(s.mask_datapath)}
    out = prepare_output_dir(s.output_dir, config.where(section, "output_dir"), protected)
    keras_scores = _keras_scores(model, source, config.eval.batch_size or config.train.batch_size,
                                 config.model.metrics)
    classes = config.model.num_classes
    names = class_names(classes) if classes > 1 else ()
    rows, probs = score_predictions(postprocess_predictor(model, config.postprocess), source.images,
                                    source.masks, [p.image.name for p in source.pairs], rule,
                                    predict_batch_size(config.eval.batch_size, config.model.input_size))
    herlev = herlev_classes(s.image_datapath)
    for row in rows:
        row["herlev_class"] = herlev.get(row["file"], "")
    summary = summarize(rows, names)
    groups = {c: summarize([r for r in rows if r["herlev_class"] == c], names) for c in sorted(set(herlev.values()))
              if any(r["herlev_class"] == c for r in rows)}
    predictions = [rule.apply(p) for p in probs]
    cell_rows, counts = [], []
    for i, p in enumerate(source.pairs):
        found, count = cell_pairs(p.image.name, source.images[i], source.masks[i], predictions[i], classes)
        cell_rows += found
        counts.append(count)
    cells = error_summary(cell_rows, counts)
    metric_rows = [{"metric": n, "value": v} for n, v in keras_scores.items()]
    metric_rows += [{"metric": k, "value": v} for k, v in summary.items()]
    metric_rows += [{"metric": k, "value": v} for k, v in cells.items()]
    metric_rows += [{"metric": f"{group}/{k}", "value": v} for group, scores in groups.items() for k, v in scores.items()]
    metric_rows += [{"metric": "threshold", "value": rule.threshold},
                    {"metric": "keep_largest", "value": int(rule.keep_largest)},
                    {"metric": "fill_holes", "value": int(rule.fill_holes)}]
    if caveat:
        metric_rows.append({"metric": "warning", "value": caveat})
    columns = per_image_columns(names) + (["herlev_class"] if herlev else [])
    atomic_write_text(out / "evaluation.csv", csv_text(metric_rows, ["metric", "value"]))
    atomic_write_text(out / "per_image.csv", csv_text(rows, columns))
    atomic_write_text(out / "cells.csv", csv_text(cell_rows, CELL_ERROR_COLUMNS))
    _report(summary, names, groups, cells, rule)
    _pictures(out, source, predictions, rows, cell_rows, classes)
    print(f"Wrote {out / 'evaluation.csv'}, {out / 'per_image.csv'} and {out / 'cells.csv'}")
    return {**summary, **cells, **keras_scores, "threshold": rule.threshold, "keep_largest": rule.keep_largest,
            "fill_holes": rule.fill_holes, "herlev_classes": groups}


def _dice(scores: dict, suffix: str = "") -> str:
    """'Dice (low to high)', or 'Dice (one source cell: no interval)' where the bootstrap has one cell to draw."""
    dice = f"{scores[f'pixel_dice{suffix}']:.4f}"
    if scores.get("source_cells", 2) < 2:
        return f"{dice} (one source cell: no interval)"
    return f"{dice} ({scores[f'pixel_dice{suffix}_ci95_low']:.4f} to {scores[f'pixel_dice{suffix}_ci95_high']:.4f})"


def _report(summary: dict, names: tuple[str, ...], groups: dict, cells: dict, rule: MaskRule) -> None:
    print(f"Pixel Dice {_dice(summary)} (95 % interval over source cells), IoU {summary['pixel_iou']:.4f}, "
          f"precision {summary['pixel_precision']:.4f}, recall {summary['pixel_recall']:.4f}; mean per-image "
          f"Dice {summary['mean_dice']:.4f} over {summary['images']} images ({summary['source_cells']} source "
          f"cells); {rule.describe()}")
    for name in names[1:]:
        print(f"  {name}: pixel Dice {_dice(summary, f'_{name}')}, IoU {summary[f'pixel_iou_{name}']:.4f}, "
              f"precision {summary[f'pixel_precision_{name}']:.4f}, recall {summary[f'pixel_recall_{name}']:.4f}")
    for group, scores in groups.items():
        print(f"  [{group}] {scores['images']} images: pixel Dice {_dice(scores)}")
    if cells["cells_true"]:
        line = (f"Cells: {cells['cells_found']} of {cells['cells_true']} found (IoU >= 0.5), "
                f"{cells['cells_spurious']} spurious")
        for m, label in (("nucleus_area_px", "nucleus area"), ("nc_ratio", "N/C ratio")):
            if f"{m}_mae" in cells:
                line += (f"; {label} error {cells[f'{m}_mae']:.3g} mean absolute, "
                         f"{100 * cells[f'{m}_mean_relative_error']:.1f} % relative, bias {cells[f'{m}_bias']:+.3g}")
        print(line)


def _pictures(out: Path, source, predictions: list[np.ndarray], rows, cell_rows, classes: int) -> None:
    plots.histogram(out / "dice_histogram.png", [r["dice"] for r in rows], "per-image Dice", "Per-image Dice")
    worst = sorted(range(len(rows)), key=lambda i: rows[i]["dice"])[:8]
    images = [source.images[i] for i in worst]
    if classes > 1:
        truths = [plots.label_overlay(source.images[i], source.masks[i], classes) for i in worst]
        preds = [plots.label_overlay(source.images[i], predictions[i], classes) for i in worst]
    else:
        truths = [plots.overlay(source.images[i], source.masks[i], (255, 255, 0)) for i in worst]
        preds = [plots.overlay(source.images[i], predictions[i]) for i in worst]
    titles = [f"{rows[i]['file'][:18]} {rows[i]['dice']:.2f}" for i in worst]
    plots.image_grid(out / "worst_cases.png", [images, truths, preds],
                     ["input", "ground truth", "prediction"], titles, title="Lowest-Dice images")
    for m, label in (("nucleus_area_px", "nucleus area (px)"), ("nc_ratio", "N/C ratio")):
        pairs = [(r[f"true_{m}"], r[f"pred_{m}"]) for r in cell_rows
                 if np.isfinite(r[f"true_{m}"]) and np.isfinite(r[f"pred_{m}"])]
        if pairs:
            plots.bland_altman(out / f"bland_altman_{m.removesuffix('_px')}.png", *np.array(pairs).T, label)

