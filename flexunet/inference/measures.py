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
  nuclei by a watershed from them, which specks do not seed);
- nc_ratio: nucleus area / cytoplasm area; nucleus_to_cell: nucleus area / (nucleus + cytoplasm),
  the Herlev data set's "N/C ratio".
"""

import math

import cv2
import numpy as np
from scipy.ndimage import find_objects
from skimage.measure import label, perimeter, regionprops
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


def nucleus_measures(mask: np.ndarray, top: int, left: int, pixels: np.ndarray) -> dict:
    """The shape and brightness of one nucleus: `mask` its bool crop whose corner is (top, left) in the image,
    `pixels` the image under the crop. The same definitions as regionprops (its central moments, its
    4-connected perimeter), computed on the crop only."""
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    area = float(m["m00"])
    inertia = np.array([[m["mu02"], -m["mu11"]], [-m["mu11"], m["mu20"]]]) / area
    low, high = np.clip(np.linalg.eigvalsh(inertia), 0, None)
    longest, shortest = 4 * math.sqrt(high), 4 * math.sqrt(low)
    return {
        "centroid_x": left + m["m10"] / area, "centroid_y": top + m["m01"] / area, "nucleus_area_px": area,
        "perimeter_px": float(perimeter(mask, 4)), "equivalent_diameter_px": math.sqrt(4 * area / math.pi),
        "longest_diameter_px": longest, "shortest_diameter_px": shortest, "elongation": _ratio(shortest, longest),
        "roundness": _ratio(area, math.pi * (longest / 2) ** 2), "mean_brightness": float(grey(pixels)[mask].mean()),
    }


def with_areas(row: dict, nucleus: float, cytoplasm: float, pixel_size_um: float | None) -> dict:
    """The row with its areas in µm² (NaN without a pixel size), the cytoplasm and the N/C ratios."""
    um2 = pixel_size_um ** 2 if pixel_size_um else float("nan")
    return {**row, "nucleus_area_um2": nucleus * um2, "cytoplasm_area_px": cytoplasm,
            "cytoplasm_area_um2": cytoplasm * um2, "nc_ratio": _ratio(nucleus, cytoplasm),
            "nucleus_to_cell": _ratio(nucleus, nucleus + cytoplasm)}


def measure_cells(nucleus: np.ndarray, image: np.ndarray, cytoplasm: np.ndarray | None = None,
                  pixel_size_um: float | None = None, name: str = "") -> list[dict]:
    """One row per nucleus (CELL_COLUMNS) of a boolean nucleus mask (H, W) over `image`; with a boolean
    cytoplasm mask also each cell's cytoplasm and the N/C ratios. "cell" numbers the 8-connected
    components top to bottom, left to right (specks, unmeasured, keep their numbers); numbers are
    floats, NaN where undefined."""
    nuclei = label(nucleus, connectivity=2)
    areas = np.bincount(nuclei.ravel())
    cyto_areas = None
    if cytoplasm is not None:
        markers = np.where((areas[nuclei] >= MIN_NUCLEUS) & (nuclei > 0), nuclei, 0)
        owners = watershed(np.zeros(nucleus.shape), markers=markers, mask=(markers > 0) | cytoplasm)
        cyto_areas = np.bincount(owners[cytoplasm], minlength=len(areas))
    rows = []
    for k, box in enumerate(find_objects(nuclei), 1):
        area = int(areas[k])
        if box is None or area < MIN_NUCLEUS:
            continue
        top, left = box[0].start, box[1].start
        row = {"file": name, "cell": k, **nucleus_measures(nuclei[box] == k, top, left, image[box])}
        cyto = float(cyto_areas[k]) if cyto_areas is not None else float("nan")
        full = with_areas(row, float(area), cyto, pixel_size_um)
        rows.append({c: full[c] for c in CELL_COLUMNS})
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
