"""The cells head's rule chosen on validation, each channel for itself: the whole-cell and nucleus thresholds
(0.05 to 0.95 by 0.05, then 0.97, 0.98, 0.99) by their own pixel Dice, the overlap threshold by its Dice, the
smallest nucleus kept by nucleus detection on the cells built from them, then the ring around each nucleus
where the outline channel is not read, and whether touching cells part at their outlines or by distance from
their nuclei, by the AJI of those cells."""

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from flexunet.data.dataset import PairSource, SegmentationBatches
from flexunet.data.instances import Cell
from flexunet.evaluation.instances import score_image
from flexunet.evaluation.scores import THRESHOLDS, best_threshold_from_counts, threshold_counts
from flexunet.inference.cells import SPLITS, build_cells
from flexunet.inference.predict import PredictFn
from flexunet.model.record import CellRule

MIN_NUCLEUS_SHARES = (0.0, 0.1, 0.2, 0.3)  # candidate smallest nuclei, as shares of the median true nucleus
RING_CHOICES = (2, 4, 6, 8, 12, 16)  # candidate rings around a nucleus (pixels at the model's scale)
CELL_THRESHOLDS = (*THRESHOLDS, 0.97, 0.98, 0.99)  # sigmoid channels, nuclei above all, can need more than 0.95


def _scores(probs: list[np.ndarray], truths: list[list[Cell]], rule: CellRule) -> list:
    return [score_image("", cells, build_cells(p.astype(np.float32), rule), p.shape[:2])
            for p, cells in zip(probs, truths)]


def _nucleus_f1(probs: list[np.ndarray], truths: list[list[Cell]], rule: CellRule) -> float:
    """F1 of nucleus detection (ISBI 2014: overlap > 0.6 both ways) of the cells built under `rule`."""
    scores = _scores(probs, truths, rule)
    detected = sum(s.nuclei_detected for s in scores)
    found = sum(s.truth_nuclei + s.pred_nuclei for s in scores)
    return 1.0 if found == 0 else 2.0 * detected / found


def _cell_aji(probs: list[np.ndarray], truths: list[list[Cell]], rule: CellRule) -> float:
    """AJI of the whole cells built under `rule`, pooled over the images (1 when there is nothing at all)."""
    scores = _scores(probs, truths, rule)
    union = sum(s.aji_cell_union for s in scores)
    return 1.0 if union == 0 else sum(s.aji_cell_intersection for s in scores) / union


def _pick_ring(probs: list[np.ndarray], truths: list[list[Cell]], rule: CellRule) -> tuple[int, float]:
    """The ring (RING_CHOICES) whose cells have the best AJI; ties to the narrower."""
    scored = [(_cell_aji(probs, truths, replace(rule, nucleus_ring_px=ring)), -ring) for ring in RING_CHOICES]
    aji, negative = max(scored)
    return -negative, aji


def _pick_split(probs: list[np.ndarray], truths: list[list[Cell]], rule: CellRule) -> tuple[str, float]:
    """The cell split (SPLITS) whose cells have the best AJI; ties to the outline split."""
    scored = [(_cell_aji(probs, truths, replace(rule, cell_split=split)), -k) for k, split in enumerate(SPLITS)]
    aji, negative = max(scored)
    return SPLITS[-negative], aji


def _pick_min_nucleus(probs: list[np.ndarray], truths: list[list[Cell]], rule: CellRule) -> tuple[int, float]:
    """The smallest nucleus kept (pixels) with the best detection F1; ties to the smaller."""
    areas = [c.nucleus_area for cells in truths for c in cells if c.nucleus_area]
    median = float(np.median(areas)) if areas else 0.0
    candidates = sorted({int(round(share * median)) for share in MIN_NUCLEUS_SHARES})
    scored = [(_nucleus_f1(probs, truths, replace(rule, min_nucleus_px=m)), -m) for m in candidates]
    f1, negative = max(scored)
    return -negative, f1


def choose_cell_rule(pairs: Sequence[tuple[PredictFn, PairSource, list[list[Cell]]]], batch_size: int) -> CellRule:
    """The rule with the best validation scores over every (predict, its validation cells, their true cells
    at the model's size) pair: thresholds and hole filling by the pixel Dice of the whole-cell and nucleus
    channels (their mean), the overlap threshold by its Dice (0.5 when validation holds no overlap), then the
    smallest nucleus by detection F1, the nucleus ring and then the cell split by the cells' AJI. Without
    validation images:
    CellRule() (0.5 everywhere)."""
    if not any(len(source) for _, source, _ in pairs):
        return CellRule()
    counts = np.zeros((2, 3, len(CELL_THRESHOLDS), 3), np.int64)  # (fill holes, channel, threshold, TP FP FN)
    nucleus_probs: list[np.ndarray] = []
    truths: list[list[Cell]] = []
    for predict, source, cells in pairs:
        truths += cells
        for x, y in SegmentationBatches(source, batch_size):
            probs = np.asarray(predict(x))
            for k, channel in enumerate((0, 1, 3)):
                truth = y[..., channel] > 0.5
                for holes in (0, 1):
                    if holes and channel == 3:
                        continue
                    counts[holes, k] += threshold_counts(probs[..., channel], truth, CELL_THRESHOLDS,
                                                         holes=bool(holes))
            nucleus_probs += list(probs.astype(np.float16))
    options = []
    for holes in (0, 1):
        (cell_t, cell_d), (nucleus_t, nucleus_d) = (best_threshold_from_counts(counts[holes, k], CELL_THRESHOLDS)
                                                    for k in (0, 1))
        options.append(((cell_d + nucleus_d) / 2, -holes, holes, cell_t, cell_d, nucleus_t, nucleus_d))
    _, _, holes, cell_t, cell_d, nucleus_t, nucleus_d = max(options)
    has_overlap = counts[0, 2, 0, 0] + counts[0, 2, 0, 2] > 0
    overlap_t, overlap_d = (best_threshold_from_counts(counts[0, 2], CELL_THRESHOLDS) if has_overlap
                            else (0.5, float("nan")))
    rule = CellRule(cell_threshold=cell_t, nucleus_threshold=nucleus_t, overlap_threshold=overlap_t,
                    fill_holes=bool(holes))
    min_px, f1 = _pick_min_nucleus(nucleus_probs, truths, rule)
    rule = replace(rule, min_nucleus_px=min_px)
    ring, outline_aji = _pick_ring(nucleus_probs, truths, rule)
    split, aji = _pick_split(nucleus_probs, truths, replace(rule, nucleus_ring_px=ring))
    validation = (("cell_dice", cell_d), ("nucleus_dice", nucleus_d), ("overlap_dice", overlap_d),
                  ("nucleus_detection_f1", f1), ("cell_aji", aji), ("cell_aji_outline_split", outline_aji),
                  ("cell_dice_without_holes_filled", options[0][4]),
                  ("nucleus_dice_without_holes_filled", options[0][6]))
    return replace(rule, nucleus_ring_px=ring, cell_split=split, validation=validation)


def rule_text(rule: CellRule) -> str:
    """How the rule reads in the training log."""
    scores = dict(rule.validation)
    scores.setdefault("cell_aji_outline_split", scores.get("cell_aji", float("nan")))  # records before the split
    return (f"whole cell > {rule.cell_threshold:.2f} (Dice {scores.get('cell_dice', float('nan')):.4f}), nucleus > "
            f"{rule.nucleus_threshold:.2f} (Dice {scores.get('nucleus_dice', float('nan')):.4f}), overlap > "
            f"{rule.overlap_threshold:.2f}, nuclei of at least {rule.min_nucleus_px} px (detection F1 "
            f"{scores.get('nucleus_detection_f1', float('nan')):.4f}), outlines read from {rule.nucleus_ring_px} px "
            f"out of each nucleus (cell AJI {scores.get('cell_aji_outline_split', float('nan')):.4f}), cells split "
            f"{'at their outlines' if rule.cell_split == 'outline' else 'by distance'} (cell AJI "
            f"{scores.get('cell_aji', float('nan')):.4f}), holes {'filled' if rule.fill_holes else 'kept'}")

