"""Per-cell measurements of a segmentation, as cytologists read them: each nucleus's size, shape and
brightness, its cell's cytoplasm, and the nucleus-to-cytoplasm ratio (scikit-image regionprops).

Definitions (lengths in pixels, areas in pixels²; with a pixel size also in µm and µm²):
- nucleus: an 8-connected component of the nucleus class;
- perimeter: regionprops perimeter (the outline's length);
- equivalent diameter: the diameter of the circle of the same area;
- longest and shortest diameter: the major and minor axes of the ellipse with the same second
  moments (cheap for any number of nuclei, where a caliper diameter needs a convex hull each);
- elongation: shortest / longest diameter (1 = as wide as long);
- roundness: area / area of the circle whose diameter is the longest diameter (1 = a disc);
- nuclei under MIN_NUCLEUS pixels (specks) are not measured;
- mean brightness: the mean grey level (0..255) of the image inside the nucleus;
- cytoplasm: the cytoplasm pixels of the nucleus's cell (a connected cell region split between its
  nuclei by a watershed from them);
- nc_ratio: nucleus area / cytoplasm area; nucleus_to_cell: nucleus area / (nucleus + cytoplasm),
  the Herlev data set's "N/C ratio".
"""

import math

import numpy as np
from skimage.measure import label, regionprops
from skimage.segmentation import watershed

MIN_NUCLEUS = 5
CELL_COLUMNS = ["file", "cell", "centroid_x", "centroid_y", "nucleus_area_px", "nucleus_area_um2", "perimeter_px",
                "equivalent_diameter_px", "longest_diameter_px", "shortest_diameter_px", "elongation", "roundness",
                "mean_brightness", "cytoplasm_area_px", "cytoplasm_area_um2", "nc_ratio", "nucleus_to_cell"]


def grey(image: np.ndarray) -> np.ndarray:
    """Luminance 0..255 (float) of an RGB, RGBA or grey image."""
    if image.ndim == 2 or image.shape[2] == 1:
        return image.reshape(image.shape[:2]).astype(np.float64)
    return image[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def measure_cells(nucleus: np.ndarray, image: np.ndarray, cytoplasm: np.ndarray | None = None,
                  pixel_size_um: float | None = None, name: str = "") -> list[dict]:
    """One row per nucleus (CELL_COLUMNS) of a boolean nucleus mask (H, W) over `image`; with a boolean
    cytoplasm mask also each cell's cytoplasm and the N/C ratios. "cell" numbers the 8-connected
    components top to bottom, left to right (specks, unmeasured, keep their numbers); numbers are
    floats, NaN where undefined."""
    nuclei = label(nucleus, connectivity=2)
    owners = None
    if cytoplasm is not None:
        owners = watershed(np.zeros(nucleus.shape), markers=nuclei, mask=nucleus | cytoplasm)
        cyto_areas = np.bincount(owners[cytoplasm], minlength=int(nuclei.max()) + 1)
    um2 = pixel_size_um ** 2 if pixel_size_um else None
    rows = []
    for region in regionprops(nuclei, intensity_image=grey(image)):
        area = float(region.area)
        if area < MIN_NUCLEUS:
            continue
        longest = float(region.axis_major_length)
        shortest = float(region.axis_minor_length)
        cyto = float(cyto_areas[region.label]) if owners is not None else float("nan")
        y, x = region.centroid
        rows.append({
            "file": name, "cell": region.label, "centroid_x": float(x), "centroid_y": float(y),
            "nucleus_area_px": area, "nucleus_area_um2": area * um2 if um2 else float("nan"),
            "perimeter_px": float(region.perimeter), "equivalent_diameter_px": float(region.equivalent_diameter_area),
            "longest_diameter_px": longest, "shortest_diameter_px": shortest,
            "elongation": _ratio(shortest, longest), "roundness": _ratio(area, math.pi * (longest / 2) ** 2),
            "mean_brightness": float(region.intensity_mean),
            "cytoplasm_area_px": cyto, "cytoplasm_area_um2": cyto * um2 if um2 else float("nan"),
            "nc_ratio": _ratio(area, cyto), "nucleus_to_cell": _ratio(area, area + cyto),
        })
    return rows


def match_cells(truth: np.ndarray, pred: np.ndarray, min_iou: float = 0.5) -> list[tuple[int, int]]:
    """(truth nucleus, predicted nucleus) numbers (measure_cells' "cell") of the nuclei that overlap with
    IoU >= min_iou; each nucleus matches at most one (at IoU > 0.5 the match is unique)."""
    t, p = label(truth, connectivity=2), label(pred, connectivity=2)
    pairs = []
    for region in regionprops(t):
        if region.area < MIN_NUCLEUS:
            continue
        inside = p[t == region.label]
        candidates, counts = np.unique(inside[inside > 0], return_counts=True)
        for candidate, overlap in sorted(zip(candidates, counts), key=lambda c: -c[1]):
            union = region.area + np.sum(p == candidate) - overlap
            if overlap / union >= min_iou:
                pairs.append((region.label, int(candidate)))
            break
    return pairs
