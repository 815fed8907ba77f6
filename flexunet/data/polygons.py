"""Masks to polygons and back, exactly: pixel-edge outlines traced with shapely, rasterized by pixel centres.

Coordinates are pixel edges (x right, y down; pixel (row r, col c) is the square [c, c + 1] x [r, r + 1]); a
polygon stands for the pixels whose centre lies inside it, so mask -> polygon -> mask gives the same pixels.
"""

import numpy as np
import shapely


def _runs(edges: np.ndarray, cross: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximal runs of True along each row of `edges` (rows, n), broken at `cross` vertices (rows, n + 1):
    (row, first vertex, last vertex) of each run, in row-major order."""
    before = np.zeros_like(edges)
    before[:, 1:] = edges[:, :-1]
    after = np.zeros_like(edges)
    after[:, :-1] = edges[:, 1:]
    row, first = np.nonzero(edges & (~before | cross[:, :-1]))
    _, last = np.nonzero(edges & (~after | cross[:, 1:]))
    return row, first, last + 1


def _outline(mask: np.ndarray) -> np.ndarray:
    """The mask's outline as straight segments (n, 2, 2) of (x, y) pixel-edge points: maximal runs of pixel
    edges, split where four edges meet (two corners of the mask touching), so segments meet only at ends."""
    p = np.pad(mask, 1)
    tl, tr, bl, br = p[:-1, :-1], p[:-1, 1:], p[1:, :-1], p[1:, 1:]
    cross = (tl == br) & (tr == bl) & (tl != tr)
    y, x0, x1 = _runs(p[:-1, 1:-1] != p[1:, 1:-1], cross)
    x, y0, y1 = _runs((p[1:-1, :-1] != p[1:-1, 1:]).T, cross.T)
    horizontal = np.stack([np.stack([x0, y], 1), np.stack([x1, y], 1)], 1)
    vertical = np.stack([np.stack([x, y0], 1), np.stack([x, y1], 1)], 1)
    return np.concatenate([horizontal, vertical]).astype(float)


def mask_polygon(mask: np.ndarray) -> shapely.Polygon | shapely.MultiPolygon:
    """The valid (Multi)Polygon, in the mask's own pixel-edge coordinates, whose pixel centres inside are
    exactly the mask's True pixels: no collinear vertices, holes kept, one part per 4-connected region."""
    faces = shapely.get_parts(shapely.polygonize(shapely.linestrings(_outline(mask))))
    x, y = shapely.get_coordinates(shapely.point_on_surface(faces)).T
    parts = faces[mask[np.floor(y).astype(int), np.floor(x).astype(int)]]
    if len(parts) == 0:
        raise ValueError("an empty mask has no polygon")
    return shapely.orient_polygons(parts[0] if len(parts) == 1 else shapely.multipolygons(parts))


def rasterize(geometry: shapely.Geometry, box: tuple[int, int, int, int]) -> np.ndarray:
    """The pixels of `box` whose centres lie inside the geometry."""
    top, left, bottom, right = box
    shapely.prepare(geometry)
    ys, xs = np.mgrid[top:bottom, left:right]
    return shapely.contains_xy(geometry, xs + 0.5, ys + 0.5)
