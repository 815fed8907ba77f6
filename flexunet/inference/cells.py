"""Cells from predictions: each nucleus grown outward into its own cell, and each cell measured.

Outline split (the cells head): the nuclei are the nucleus channel above its threshold (specks under the
rule's min_nucleus_px dropped, so they never take cytoplasm); the cells are the whole-cell channel above its
threshold. Each nucleus floods its cell by a watershed on the outline channel, so two touching cells part
where the model sees their outlines, not halfway between their nuclei (the outline channel is ignored
within the rule's nucleus_ring_px of a nucleus, where the nucleus's own edge can look like one). A cell
body between outlines that holds no nucleus (a cell whose nucleus was missed) is kept out of the flood: its
cytoplasm goes to nobody rather than to its neighbour. Where the overlap channel marks pixels that two or
more cells cover, each overlap region goes to every cell it borders (each holding at least OVERLAP_SHARE of
the region and its ring), so overlapping cells both keep their shared part, as annotations count it.

Distance split (a classes head; a cells head whose validation cells came out better so, as its rule's
cell_split records; and the comparison): the cytoplasm is split between the nuclei by a watershed on a flat
image, i.e. each pixel to the nearest nucleus through the cell region.
"""

from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import binary_dilation, find_objects
from skimage.segmentation import watershed

from flexunet.config.sections import ModelSection, PostprocessSection
from flexunet.data.instances import Cell, cells_from_regions, coverage
from flexunet.inference.measures import CELL_COLUMNS, MIN_NUCLEUS, nucleus_measures, with_areas
from flexunet.inference.morphology import dilate_cross, fill_holes, label4, label8
from flexunet.inference.postprocess import MaskRule, configured_rule
from flexunet.model.record import CellRule, ModelRecord

ORPHAN_MIN_PX = 64  # a nucleus-less cell body at least this large is a cell whose nucleus was missed
OVERLAP_SHARE = 0.2
OUTLINE = 0.5  # outline probability above which a pixel parts cells
SPLITS = ("outline", "distance")
INSTANCE_COLUMNS = [*CELL_COLUMNS, "cell_area_px", "cell_area_um2", "overlap_area_px"]


def nucleus_markers(nucleus: np.ndarray, min_px: int) -> np.ndarray:
    """Labels (H, W) int32 of the nuclei: 8-connected components of at least max(min_px, MIN_NUCLEUS) pixels,
    numbered top to bottom, left to right."""
    markers = label8(nucleus)
    keep = np.bincount(markers.ravel()) >= max(min_px, MIN_NUCLEUS)
    keep[0] = False
    renumber = np.cumsum(keep, dtype=np.int32) * keep
    return renumber[markers]


def distance_split(nucleus: np.ndarray, cell: np.ndarray, min_nucleus_px: int = 0) -> list[Cell]:
    """Cells of a nucleus mask and a whole-cell mask (both bool (H, W)): the cell region split between the
    nuclei by distance (a watershed on a flat image); cell regions without a nucleus are no cell."""
    markers = nucleus_markers(nucleus, min_nucleus_px)
    regions = watershed(np.zeros(nucleus.shape, np.float32), markers=markers, mask=cell | (markers > 0))
    return cells_from_regions(regions, markers)


def _orphans(foreground: np.ndarray, outline: np.ndarray, near_nucleus: np.ndarray, min_px: float) -> np.ndarray:
    """The cell bodies (foreground between outlines) of at least min_px pixels that reach no nucleus."""
    bodies = label4(foreground & ~outline)
    sizes = np.bincount(bodies.ravel())
    nucleated = np.zeros(len(sizes), bool)
    nucleated[bodies[near_nucleus]] = True
    orphan = (sizes >= min_px) & ~nucleated
    orphan[0] = False
    return orphan[bodies]


def _share_overlaps(cells: list[Cell], regions: np.ndarray, overlap: np.ndarray) -> list[Cell]:
    """The cells with each overlap region added to every cell holding at least OVERLAP_SHARE of the region
    and its 2-pixel ring (when two or more do)."""
    parts = label8(overlap)
    extra: dict[int, list[tuple[tuple[slice, slice], np.ndarray]]] = {}
    for k, box in enumerate(find_objects(parts), 1):
        if box is None:
            continue
        grown = tuple(slice(max(s.start - 2, 0), min(s.stop + 2, n)) for s, n in zip(box, parts.shape))
        around = regions[grown]
        if around.max() == around.min(where=around > 0, initial=around.max()):  # one owner or none: no share
            continue
        region = parts[grown] == k
        near = binary_dilation(region, iterations=2)
        owners, counts = np.unique(around[near], return_counts=True)
        keep = (owners > 0) & (counts >= OVERLAP_SHARE * near.sum())
        if keep.sum() >= 2:
            for owner in owners[keep]:
                extra.setdefault(int(owner), []).append((grown, region))
    if not extra:
        return cells
    out = []
    for c in cells:
        if c.id not in extra:
            out.append(c)
            continue
        top, left, bottom, right = c.box
        for grown, _ in extra[c.id]:
            top, left = min(top, grown[0].start), min(left, grown[1].start)
            bottom, right = max(bottom, grown[0].stop), max(right, grown[1].stop)
        body = np.zeros((bottom - top, right - left), bool)
        nucleus = np.zeros_like(body)
        t, le, b, r = c.box
        body[t - top:b - top, le - left:r - left] = c.cell
        nucleus[t - top:b - top, le - left:r - left] = c.nucleus
        for grown, region in extra[c.id]:
            body[grown[0].start - top:grown[0].stop - top, grown[1].start - left:grown[1].stop - left] |= region
        out.append(Cell(c.id, (top, left, bottom, right), body, nucleus))
    return out


def build_cells(probs: np.ndarray, rule: CellRule, split: str | None = None, area_scale: float = 1.0) -> list[Cell]:
    """The cells of a cells head's probabilities (H, W, 4) under `rule`; split (default the rule's
    cell_split) "outline" (module docstring) or "distance" (the same nuclei and cell region, split by
    distance, no overlaps). `area_scale`: the image's pixels per model pixel (the rule's sizes are at the
    model's scale)."""
    split = split or rule.cell_split
    if split not in SPLITS:
        raise ValueError(f"cell split: expected one of {', '.join(SPLITS)}, got {split!r}")
    rule = replace(rule, min_nucleus_px=round(rule.min_nucleus_px * area_scale))
    nucleus = probs[..., 1] > rule.nucleus_threshold
    foreground = probs[..., 0] > rule.cell_threshold
    if rule.fill_holes:
        nucleus, foreground = fill_holes(nucleus), fill_holes(foreground)
    if split == "distance":
        return distance_split(nucleus, foreground, rule.min_nucleus_px)
    markers = nucleus_markers(nucleus, rule.min_nucleus_px)
    foreground |= markers > 0
    ring = max(1, round(rule.nucleus_ring_px * area_scale ** 0.5))
    near_nucleus = dilate_cross(markers > 0, ring) & foreground
    elevation = np.where(near_nucleus, 0.0, probs[..., 2]).astype(np.float32)
    mask = foreground & ~_orphans(foreground, elevation > OUTLINE, near_nucleus, ORPHAN_MIN_PX * area_scale)
    regions = watershed(elevation, markers=markers, mask=mask)
    cells = cells_from_regions(regions, markers)
    overlap = (probs[..., 3] > rule.overlap_threshold) & mask & (markers == 0)
    return _share_overlaps(cells, regions, overlap) if overlap.any() else cells


@dataclass(frozen=True)
class CellMaker:
    """How a 3-class model's probabilities become cells: the cells head's rule (split as the rule says, or as
    `split` overrides it), or, for a classes head, its mask rule's class labels split by distance."""

    rule: CellRule | None = None
    labels: MaskRule | None = None
    split: str | None = None

    def cells(self, probs: np.ndarray, area_scale: float = 1.0) -> list[Cell]:
        """The cells of probabilities (H, W, C); `area_scale` as for build_cells."""
        if self.rule is not None:
            return build_cells(probs, self.rule, self.split, area_scale)
        labels = self.labels.apply(probs)
        return distance_split(labels == 2, labels > 0, round(MIN_NUCLEUS * area_scale))

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """The 3-class labels (H, W) of the cells of probabilities (H, W, C), as MaskRule.apply gives labels."""
        return cell_labels(self.cells(probs), probs.shape[:2])

    def describe(self) -> str:
        if self.rule is None:
            return f"{self.labels.describe()}, cells split by distance from their nuclei"
        r = self.rule
        split = self.split or r.cell_split
        return (f"whole cell > {r.cell_threshold:.2f}, nucleus > {r.nucleus_threshold:.2f} (at least "
                f"{r.min_nucleus_px} px, outlines read from {r.nucleus_ring_px} px out), overlap > "
                f"{r.overlap_threshold:.2f}, cells split "
                f"{'at their outlines' if split == 'outline' else 'by distance'}")


def cell_maker(record: ModelRecord, model: ModelSection, post: PostprocessSection,
               split: str | None = None) -> CellMaker | None:
    """The CellMaker of a trained 3-class model (a cells head, its cells split as its rule says unless `split`
    is given; or a softmax head over background, cytoplasm and nucleus); None for other models (a nucleus
    mask has no cells)."""
    if model.head == "cells":
        return CellMaker(rule=record.cells or CellRule(), split=split)
    if model.num_classes == 3:
        return CellMaker(labels=configured_rule(record, post), split="distance")
    return None


def cell_labels(cells: list[Cell], shape: tuple[int, int]) -> np.ndarray:
    """The 3-class labels (H, W) uint8 the cells stand for: 1 inside any cell, 2 inside any nucleus."""
    out = np.zeros(shape, np.uint8)
    for c in cells:
        top, left, bottom, right = c.box
        out[top:bottom, left:right][c.cell] = np.maximum(out[top:bottom, left:right][c.cell], 1)
        out[top:bottom, left:right][c.nucleus] = 2
    return out


def measure_instances(cells: list[Cell], image: np.ndarray, pixel_size_um: float | None = None,
                      name: str = "") -> list[dict]:
    """One row per cell (INSTANCE_COLUMNS): its nucleus as measure_cells measures it, its cytoplasm (the whole
    cell minus the nucleus, a pixel another cell also covers counted for both), the N/C ratios, the whole
    cell's area and how much of it other cells cover too. Cells without a nucleus are not measured."""
    shared = coverage(cells, image.shape[:2]) > 1 if len(cells) > 1 else None
    um2 = pixel_size_um ** 2 if pixel_size_um else float("nan")
    rows = []
    for c in cells:
        area = c.nucleus_area
        if area == 0:
            continue
        top, left, bottom, right = c.box
        row = {"file": name, "cell": c.id, **nucleus_measures(c.nucleus, top, left, image[top:bottom, left:right])}
        full = with_areas(row, float(area), float(c.cytoplasm_area), pixel_size_um)
        overlap = float((shared[top:bottom, left:right] & c.cell).sum()) if shared is not None else 0.0
        full.update(cell_area_px=float(c.cell_area), cell_area_um2=c.cell_area * um2, overlap_area_px=overlap)
        rows.append({k: full[k] for k in INSTANCE_COLUMNS})
    return rows
