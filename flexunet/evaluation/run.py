"""The evaluate command: the best model on [eval] (or [test]); Keras loss and metrics, per-image and
pooled Dice/IoU with an interval over source cells, CSVs and pictures in the section's output_dir."""

from pathlib import Path

from flexunet import plots
from flexunet.config import Config
from flexunet.data.dataset import PairSource, SegmentationBatches
from flexunet.data.sources import Folders, folder_source, sample_spec
from flexunet.evaluation.scores import PER_IMAGE_COLUMNS, score_predictions, summarize
from flexunet.fsutil import atomic_write_text, csv_text, prepare_output_dir
from flexunet.inference.postprocess import to_mask
from flexunet.inference.predict import postprocess_predictor, predict_batch_size
from flexunet.model.files import read_info
from flexunet.model.store import load_trained


def seen_in_training(config: Config, section: str) -> str | None:
    """Why the [section] cells are not unseen by the model (a fold ensemble trained on [eval]), or None."""
    info = read_info(config.train.model_dir)
    if section == "eval" and info.get("member_validation") and config.train.validation == "eval":
        return (f"members 2 to {len(info['member_validation'])} of this ensemble_folds ensemble trained on "
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


def run_evaluation(config: Config, section: str = "eval") -> dict:
    """Evaluate the best model on the [section] folders; write CSVs and pictures to its output_dir."""
    s = getattr(config, section)
    model, threshold = load_trained(config, compile_model=True)
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
    post = config.postprocess
    rows, probs = score_predictions(postprocess_predictor(model, post), source.images, source.masks,
                                    [p.image.name for p in source.pairs], threshold, post.keep_largest,
                                    post.fill_holes, predict_batch_size(config.eval.batch_size))
    summary = summarize(rows)
    metric_rows = [{"metric": n, "value": v} for n, v in keras_scores.items()]
    metric_rows += [{"metric": k, "value": v} for k, v in summary.items()]
    metric_rows.append({"metric": "threshold", "value": threshold})
    if caveat:
        metric_rows.append({"metric": "warning", "value": caveat})
    atomic_write_text(out / "evaluation.csv", csv_text(metric_rows, ["metric", "value"]))
    atomic_write_text(out / "per_image.csv", csv_text(rows, PER_IMAGE_COLUMNS))
    print(f"Pixel Dice {summary['pixel_dice']:.4f} (95 % interval over source cells "
          f"{summary['pixel_dice_ci95_low']:.4f} to {summary['pixel_dice_ci95_high']:.4f}), "
          f"IoU {summary['pixel_iou']:.4f}, precision "
          f"{summary['pixel_precision']:.4f}, recall {summary['pixel_recall']:.4f}; mean per-image "
          f"Dice {summary['mean_dice']:.4f} over {summary['images']} images "
          f"({summary['source_cells']} source cells) at threshold {threshold:.2f}")
    _pictures(out, source, probs, rows, threshold, post)
    print(f"Wrote {out / 'evaluation.csv'} and {out / 'per_image.csv'}")
    return {**summary, **keras_scores, "threshold": threshold}


def _pictures(out: Path, source, probs, rows, threshold, post) -> None:
    plots.histogram(out / "dice_histogram.png", [r["dice"] for r in rows], "per-image Dice",
                    "Per-image Dice")
    worst = sorted(range(len(rows)), key=lambda i: rows[i]["dice"])[:8]
    images = [source.images[i] for i in worst]
    truths = [plots.overlay(source.images[i], source.masks[i], (255, 255, 0)) for i in worst]
    preds = [plots.overlay(source.images[i], to_mask(probs[i], threshold, post.keep_largest,
                                                     post.fill_holes)) for i in worst]
    titles = [f"{rows[i]['file'][:18]} {rows[i]['dice']:.2f}" for i in worst]
    plots.image_grid(out / "worst_cases.png", [images, truths, preds],
                     ["input", "ground truth", "prediction"], titles, title="Lowest-Dice images")
