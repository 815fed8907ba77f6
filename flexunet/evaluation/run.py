"""The evaluate command: the best model on [eval] (or [test]); Keras loss and metrics, per-image and
pooled scores with an interval over source cells (per label class and per Herlev class where known),
the per-cell measurement errors, CSVs and pictures in the section's output_dir."""

from pathlib import Path

import numpy as np

from flexunet import plots
from flexunet.config import Config
from flexunet.data.cells import packed_labels, truth_cells
from flexunet.data.classes_file import herlev_classes
from flexunet.data.dataset import PairSource, SegmentationBatches
from flexunet.data.labels import class_names
from flexunet.data.sources import Folders, folder_source, sample_spec
from flexunet.evaluation.cell_scores import evaluate_cells, report_line, write_cell_scores
from flexunet.evaluation.cells import CELL_ERROR_COLUMNS, cell_pairs, error_summary
from flexunet.evaluation.outputs import (
    CELL_ERRORS_CSV,
    DICE_HISTOGRAM,
    EVALUATION_CSV,
    PER_IMAGE_CSV,
    WORST_CASES,
    bland_altman_png,
)
from flexunet.evaluation.scores import per_image_columns, score_predictions, summarize
from flexunet.fsutil import atomic_write_text, csv_text, prepare_output_dir
from flexunet.inference.cells import CellMaker, cell_maker
from flexunet.inference.postprocess import MaskRule, configured_rule
from flexunet.inference.predict import postprocess_predictor, predict_batch_size
from flexunet.model.record import ModelRecord
from flexunet.model.store import TrainedModel, load_trained


def seen_in_training(config: Config, record: ModelRecord, section: str) -> str | None:
    """Why the [section] cells are not unseen by the model (a fold ensemble trained on [eval]), or None."""
    if section == "eval" and record.member_validation and config.train.validation == "eval":
        return (f"members 2 to {len(record.member_validation)} of this ensemble_folds ensemble trained on "
                "the [eval] cells, so this figure is optimistic; the [test] section gives the honest one")
    return None


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


def run_evaluation(config: Config, section: str = "eval", trained: TrainedModel | None = None) -> dict:
    """Evaluate the best model on the [section] folders; write CSVs and pictures to its output_dir.
    `trained`: a compiled model already loaded (TensorflowUNet.load_model), else the one in model_dir."""
    s = getattr(config, section)
    trained = trained if trained is not None else load_trained(config, compile_model=True)
    model, rule = trained.model, configured_rule(trained.record, config.postprocess)
    caveat = seen_in_training(config, trained.record, section)
    if caveat:
        print(f"Warning: {caveat}")
    folders = Folders(*config.folders(section, f"for evaluation ([{section}])"))
    source = folder_source(folders, sample_spec(config.model, config.mask, training=False)).cache(
        desc=f"Loading [{section}]", progress=False)
    out = prepare_output_dir(s.output_dir, config.where(section, "output_dir"),
                             config.protected_folders(f"{section} output_dir"))
    keras_scores = _keras_scores(model, source, config.eval.batch_size or config.train.batch_size,
                                 config.model.metrics)
    classes = config.model.num_classes
    names = class_names(classes) if classes > 1 else ()
    maker = cell_maker(trained.record, config.model, config.postprocess)
    truths = packed_labels(source.masks) if config.model.head == "cells" else source.masks
    rows, _, predictions, pred_cells = score_predictions(
        postprocess_predictor(model, config.postprocess), source.images, truths, [p.image.name for p in source.pairs],
        maker or rule, predict_batch_size(config.eval.batch_size, config.model.input_size))
    herlev = herlev_classes(s.image_datapath)
    for row in rows:
        row["herlev_class"] = herlev.get(row["file"], "")
    summary = summarize(rows, names)
    groups = {c: summarize([r for r in rows if r["herlev_class"] == c], names) for c in sorted(set(herlev.values()))
              if any(r["herlev_class"] == c for r in rows)}
    if maker is not None:
        annotated = truth_cells(source.pairs, config.model.input_size)
        evaluation = evaluate_cells([p.image.name for p in source.pairs], annotated, pred_cells,
                                    config.model.input_size)
        cells, cell_rows = evaluation.summary, []
    else:
        cell_rows, counts = [], []
        for i, p in enumerate(source.pairs):
            found, count = cell_pairs(p.image.name, source.images[i], truths[i], predictions[i], classes)
            cell_rows += found
            counts.append(count)
        cells = error_summary(cell_rows, counts)
    metric_rows = [{"metric": n, "value": v} for n, v in keras_scores.items()]
    metric_rows += [{"metric": k, "value": v} for k, v in summary.items()]
    metric_rows += [{"metric": k, "value": v} for k, v in cells.items()]
    metric_rows += [{"metric": f"{group}/{k}", "value": v}
                    for group, scores in groups.items() for k, v in scores.items()]
    metric_rows += [{"metric": "threshold", "value": rule.threshold},
                    {"metric": "keep_largest", "value": int(rule.keep_largest)},
                    {"metric": "fill_holes", "value": int(rule.fill_holes)}]
    if maker is not None:
        metric_rows.append({"metric": "cells_rule", "value": maker.describe()})
    if caveat:
        metric_rows.append({"metric": "warning", "value": caveat})
    columns = per_image_columns(names) + (["herlev_class"] if herlev else [])
    atomic_write_text(out / EVALUATION_CSV, csv_text(metric_rows, ["metric", "value"]))
    atomic_write_text(out / PER_IMAGE_CSV, csv_text(rows, columns))
    if maker is not None:
        write_cell_scores(out, evaluation)
    else:
        atomic_write_text(out / CELL_ERRORS_CSV, csv_text(cell_rows, CELL_ERROR_COLUMNS))
    _report(summary, names, groups, cells, maker or rule)
    _pictures(out, source, truths, predictions, rows, cell_rows, classes)
    print(f"Wrote {out / EVALUATION_CSV}, {out / PER_IMAGE_CSV} and the per-cell scores")
    return {**summary, **cells, **keras_scores, "threshold": rule.threshold, "keep_largest": rule.keep_largest,
            "fill_holes": rule.fill_holes, "herlev_classes": groups}


def _dice(scores: dict, suffix: str = "") -> str:
    """'Dice (low to high)', or 'Dice (one source cell: no interval)' where the bootstrap has one cell to draw."""
    dice = f"{scores[f'pixel_dice{suffix}']:.4f}"
    if scores.get("source_cells", 2) < 2:
        return f"{dice} (one source cell: no interval)"
    return f"{dice} ({scores[f'pixel_dice{suffix}_ci95_low']:.4f} to {scores[f'pixel_dice{suffix}_ci95_high']:.4f})"


def _report(summary: dict, names: tuple[str, ...], groups: dict, cells: dict, rule: MaskRule | CellMaker) -> None:
    print(f"Pixel Dice {_dice(summary)} (95 % interval over source cells), IoU {summary['pixel_iou']:.4f}, "
          f"precision {summary['pixel_precision']:.4f}, recall {summary['pixel_recall']:.4f}; mean per-image "
          f"Dice {summary['mean_dice']:.4f} over {summary['images']} images ({summary['source_cells']} source "
          f"cells); {rule.describe()}")
    for name in names[1:]:
        print(f"  {name}: pixel Dice {_dice(summary, f'_{name}')}, IoU {summary[f'pixel_iou_{name}']:.4f}, "
              f"precision {summary[f'pixel_precision_{name}']:.4f}, recall {summary[f'pixel_recall_{name}']:.4f}")
    for group, scores in groups.items():
        print(f"  [{group}] {scores['images']} images: pixel Dice {_dice(scores)}")
    if "aji_cell" in cells:
        print(report_line(cells))
    elif cells["cells_true"]:
        line = (f"Cells: {cells['cells_found']} of {cells['cells_true']} found (IoU >= 0.5), "
                f"{cells['cells_spurious']} spurious")
        for m, label in (("nucleus_area_px", "nucleus area"), ("nc_ratio", "N/C ratio")):
            if f"{m}_mae" in cells:
                line += (f"; {label} error {cells[f'{m}_mae']:.3g} mean absolute, "
                         f"{100 * cells[f'{m}_mean_relative_error']:.1f} % relative, bias {cells[f'{m}_bias']:+.3g}")
        print(line)


def _pictures(out: Path, source, truths: np.ndarray, predictions: list[np.ndarray], rows, cell_rows,
              classes: int) -> None:
    plots.histogram(out / DICE_HISTOGRAM, [r["dice"] for r in rows], "per-image Dice", "Per-image Dice")
    worst = sorted(range(len(rows)), key=lambda i: rows[i]["dice"])[:8]
    images = [source.images[i] for i in worst]
    if classes > 1:
        shown = [plots.label_overlay(source.images[i], truths[i], classes) for i in worst]
        preds = [plots.label_overlay(source.images[i], predictions[i], classes) for i in worst]
    else:
        shown = [plots.overlay(source.images[i], truths[i], (255, 255, 0)) for i in worst]
        preds = [plots.overlay(source.images[i], predictions[i]) for i in worst]
    titles = [f"{rows[i]['file'][:18]} {rows[i]['dice']:.2f}" for i in worst]
    plots.image_grid(out / WORST_CASES, [images, shown, preds],
                     ["input", "ground truth", "prediction"], titles, title="Lowest-Dice images")
    for m, label in (("nucleus_area_px", "nucleus area (px)"), ("nc_ratio", "N/C ratio")):
        pairs = [(r[f"true_{m}"], r[f"pred_{m}"]) for r in cell_rows
                 if np.isfinite(r[f"true_{m}"]) and np.isfinite(r[f"pred_{m}"])]
        if pairs:
            plots.bland_altman(out / bland_altman_png(m.removesuffix("_px")), *np.array(pairs).T, label)

