"""Probabilities to masks: the threshold, then the clean-up (keep the largest component, fill holes)."""

from dataclasses import dataclass

import cv2
import numpy as np

from flexunet.config.sections import PostprocessSection
from flexunet.model.record import ModelRecord


def keep_largest_component(mask: np.ndarray, prefer: np.ndarray | None = None) -> np.ndarray:
    """Only the largest 8-connected foreground component of a 0/255 mask; given `prefer` (bool), the largest
    of the components that hold a preferred pixel when any does (a cell with its nucleus)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 127).astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.int64)
    if prefer is not None:
        holding = np.bincount(labels[prefer], minlength=count)[1:] > 0
        if holding.any():
            areas = np.where(holding, areas, -1)
    largest = 1 + int(np.argmax(areas))
    return np.where(labels == largest, 255, 0).astype(np.uint8)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not connected to the image border."""
    fg = (mask > 127).astype(np.uint8)
    padded = np.pad(1 - fg, 1, constant_values=1)
    count, labels = cv2.connectedComponents(padded, connectivity=4)
    outside = labels == labels[0, 0]
    holes = ~outside[1:-1, 1:-1] & (fg == 0)
    return np.where((fg == 1) | holes, 255, 0).astype(np.uint8)


def to_mask(probs: np.ndarray, threshold: float, keep_largest: bool = False, holes: bool = False) -> np.ndarray:
    """0/255 uint8 mask from probabilities (H, W) at `threshold`, then optional clean-up. The comparison is
    made in the probabilities' own precision (a Python float threshold), wherever the threshold came from,
    so choosing the threshold and writing the mask agree on a probability equal to it."""
    mask = np.where(probs > float(threshold), 255, 0).astype(np.uint8)
    if keep_largest:
        mask = keep_largest_component(mask)
    if holes:
        mask = fill_holes(mask)
    return mask


def to_labels(probs: np.ndarray, keep_largest: bool = False, holes: bool = False) -> np.ndarray:
    """Class labels (H, W) uint8 of probabilities (H, W, C): the argmax, then the optional clean-up of each
    nested region, labels >= k for k = 1 .. C-1 (the cell, then its nucleus), each taken inside the one
    kept before it: keep_largest keeps the largest cell that holds a nucleus (the largest cell when none
    does) and the largest nucleus inside it; holes fills a nucleus's holes with nucleus and a cell's with
    its cytoplasm."""
    labels = np.argmax(probs, axis=-1).astype(np.uint8)
    if not (keep_largest or holes):
        return labels
    classes = probs.shape[-1]
    out = np.zeros_like(labels)
    outer = np.ones(labels.shape, bool)
    for k in range(1, classes):
        region = np.where((labels >= k) & outer, 255, 0).astype(np.uint8)
        if keep_largest:
            region = keep_largest_component(region, prefer=labels == classes - 1)
        if holes:
            region = fill_holes(region)
        outer = (region > 127) & outer
        out[outer] = k
    return out


@dataclass(frozen=True)
class MaskRule:
    """How probabilities become the mask that is written and scored: the threshold, then the clean-up."""

    threshold: float = 0.5
    keep_largest: bool = False
    fill_holes: bool = False

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """0/255 uint8 mask of probabilities (H, W); class labels (to_labels, no threshold) of (H, W, C)."""
        if probs.ndim == 3:
            return to_labels(probs, self.keep_largest, self.fill_holes)
        return to_mask(probs, self.threshold, self.keep_largest, self.fill_holes)

    def describe(self) -> str:
        steps = [name for name, on in (("keep the largest component", self.keep_largest),
                                       ("fill holes", self.fill_holes)) if on]
        return f"threshold {self.threshold:.2f}, clean-up: {' and '.join(steps) or 'none'}"


def mask_rule(record: ModelRecord, keep_largest: bool | str = "auto", fill_holes: bool | str = "auto") -> MaskRule:
    """The rule of a trained model: its record's threshold, and each clean-up as the config sets it, or as
    validation chose it where the config says "auto" (off when the record holds no choice)."""
    def pick(chosen: bool, setting: bool | str) -> bool:
        return bool(chosen) if setting == "auto" else bool(setting)

    return MaskRule(float(record.threshold), pick(record.keep_largest, keep_largest),
                    pick(record.fill_holes, fill_holes))


def configured_rule(record: ModelRecord, post: PostprocessSection) -> MaskRule:
    """mask_rule with the [postprocess] keep_largest and fill_holes settings."""
    return mask_rule(record, post.keep_largest, post.fill_holes)
