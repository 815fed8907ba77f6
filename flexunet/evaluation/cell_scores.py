"""Evaluation cell by cell: a 3-class model's cells against the annotation's own cells (ISBI 2014 scores,
AJI, per-cell N/C and nucleus-area errors), written per cell and per image."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flexunet import plots
from flexunet.data.instances import Cell
from flexunet.evaluation.instances import (
    CELL_SCORE_COLUMNS,
    IMAGE_SCORE_COLUMNS,
    ImageCellScores,
    score_image,
    summarize_cell_scores,
)
from flexunet.evaluation.outputs import CELL_SCORES_CSV, IMAGE_CELL_SCORES_CSV, bland_altman_png
from flexunet.fsutil import atomic_write_text, csv_text

BLAND_ALTMAN = (("nucleus_area", "nucleus area (px)"), ("nc_ratio", "N/C ratio"))


@dataclass(frozen=True)
class CellEvaluation:
    """The per-image scores and their pooled summary (flexunet.evaluation.instances keys, without images)."""

    images: tuple[ImageCellScores, ...]
    summary: dict

    @property
    def rows(self) -> list[dict]:
        return [row for image in self.images for row in image.rows]


def evaluate_cells(names: list[str], truths: list[list[Cell]], preds: list[list[Cell]],
                   shape: tuple[int, int]) -> CellEvaluation:
    """Score each image's predicted cells against its true cells (all on images of `shape`) and pool them."""
    images = tuple(score_image(n, t, p, shape) for n, t, p in zip(names, truths, preds))
    summary = {k: v for k, v in summarize_cell_scores(images).items() if k != "images"}
    return CellEvaluation(images, summary)


def write_cell_scores(out: Path, evaluation: CellEvaluation) -> None:
    """cell_scores.csv (a row per true cell), image_cell_scores.csv (a row per image) and the Bland-Altman
    plots of the good cells' N/C ratio and nucleus area."""
    atomic_write_text(out / CELL_SCORES_CSV, csv_text(evaluation.rows, CELL_SCORE_COLUMNS))
    atomic_write_text(out / IMAGE_CELL_SCORES_CSV, csv_text([{"file": i.name, **i.summary} for i in evaluation.images],
                                                            IMAGE_SCORE_COLUMNS))
    for measure, label in BLAND_ALTMAN:
        pairs = [(r[f"true_{measure}"], r[f"pred_{measure}"]) for r in evaluation.rows if r["good"]
                 and np.isfinite(r[f"true_{measure}"]) and np.isfinite(r[f"pred_{measure}"])]
        if pairs:
            plots.bland_altman(out / bland_altman_png(measure), *np.array(pairs, float).T, label)


def report_line(s: dict) -> str:
    """The cell-by-cell summary as the evaluator prints it."""
    return (f"Cells: {s['truth_cells']} annotated, {s['pred_cells']} found; whole-cell Dice {s['cell_dice']:.4f} over "
            f"the {s['good_cells']} with Dice > 0.7 (FNo {s['cell_fno']:.3f}, TPp {s['cell_tpp']:.3f}, FPp "
            f"{s['cell_fpp']:.4f}), AJI {s['aji_cell']:.4f}; nuclei: Dice {s['nucleus_dice']:.4f}, detection "
            f"precision {s['nucleus_precision']:.3f} recall {s['nucleus_recall']:.3f}, {s['pred_nuclei']} found for "
            f"{s['truth_nuclei']} ({s['nuclei_ratio']:.2f}x), AJI {s['aji_nucleus']:.4f}; N/C ratio off by "
            f"{100 * s['nc_ratio_median_relative_error']:.1f} % (median, {s['nc_ratio_cells']} cells), nucleus area "
            f"by {100 * s['nucleus_area_median_relative_error']:.1f} %")
