"""The evaluation stage's output names, in the [eval] or [test] output_dir."""

EVALUATION_CSV = "evaluation.csv"
PER_IMAGE_CSV = "per_image.csv"
CELL_ERRORS_CSV = "cells.csv"
DICE_HISTOGRAM = "dice_histogram.png"
WORST_CASES = "worst_cases.png"


def bland_altman_png(measure: str) -> str:
    """The Bland-Altman plot of a per-cell measure, e.g. bland_altman_png("nc_ratio") -> bland_altman_nc_ratio.png."""
    return f"bland_altman_{measure}.png"
CELL_SCORES_CSV = "cell_scores.csv"
IMAGE_CELL_SCORES_CSV = "image_cell_scores.csv"
