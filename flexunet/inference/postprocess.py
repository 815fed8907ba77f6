"""Mask clean-up after the threshold: keep the largest component, fill holes."""

import cv2
import numpy as np


def keep_largest_component(mask: np.ndarray) -> np.ndarray:
    """Only the largest 8-connected foreground component of a 0/255 mask."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 127).astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
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
    """0/255 uint8 mask from probabilities (H, W) at `threshold`, then optional clean-up."""
    mask = np.where(probs > threshold, 255, 0).astype(np.uint8)
    if keep_largest:
        mask = keep_largest_component(mask)
    if holes:
        mask = fill_holes(mask)
    return mask
