"""Masks to polygons and back, exactly: pixel-edge outlines chained into rings, rasterized by pixel centres.

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
    """The mask's outline as straight segments (n, 2, 2) of (x, y) pixel-edge points, each from its start to
    its end with the mask on its right (x right, y down): maximal runs of pixel edges, split where four edges
    meet (two corners of the mask touching), so segments meet only at ends."""
    p = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), bool)
    p[1:-1, 1:-1] = mask
    tl, tr, bl, br = p[:-1, :-1], p[:-1, 1:], p[1:, :-1], p[1:, 1:]
    cross = (tl == br) & (tr == bl) & (tl != tr)
    y, x0, x1 = _runs(p[:-1, 1:-1] != p[1:, 1:-1], cross)
    below = p[y + 1, x0 + 1]  # mask below: walked towards +x
    horizontal = np.stack([np.stack([np.where(below, x0, x1), y], 1), np.stack([np.where(below, x1, x0), y], 1)], 1)
    x, y0, y1 = _runs((p[1:-1, :-1] != p[1:-1, 1:]).T, cross.T)
    right = p[y0 + 1, x + 1]  # mask to the right: walked towards -y
    vertical = np.stack([np.stack([x, np.where(right, y1, y0)], 1), np.stack([x, np.where(right, y0, y1)], 1)], 1)
    return np.concatenate([horizontal, vertical]).astype(float)


def _simple_rings(points: np.ndarray, keys: np.ndarray) -> list[np.ndarray]:
    """A closed walk's points (n, 2) (the first not repeated at the end), with a key per vertex, cut into
    rings that pass each vertex once: where the walk comes back to a vertex, the loop since is a ring."""
    if len(np.unique(keys)) == len(keys):
        return [points]
    rings, walk, where = [], [], {}
    for index, key in enumerate(keys.tolist()):
        if key in where:
            start = where[key]
            rings.append(points[walk[start:]])
            for k in keys[walk[start:]].tolist():
                del where[k]
            del walk[start:]
        where[key] = len(walk)
        walk.append(index)
    rings.append(points[walk])
    return rings


def _chained(segments: np.ndarray) -> shapely.Polygon | shapely.MultiPolygon | None:
    """The (Multi)Polygon of directed outline segments, chained into rings: at a vertex where two corners of
    the mask touch, the ring turns right (keeping to its own 4-connected region). Rings walked with the mask
    on their right are shells (positive shoelace area, x right, y down), the others holes, each given to the
    shell holding it. None when the result is not a valid geometry."""
    n = len(segments)
    if n < 4:
        return None
    width = segments[..., 0].max() + 2
    starts = segments[:, 0, 1] * width + segments[:, 0, 0]
    order = np.argsort(starts, kind="stable")
    ranked = starts[order]
    ends = segments[:, 1, 1] * width + segments[:, 1, 0]
    low = np.searchsorted(ranked, ends)
    first, second = order[np.minimum(low, n - 1)], order[np.minimum(low + 1, n - 1)]
    heading = np.sign(segments[:, 1] - segments[:, 0])
    right_turn = np.stack([-heading[:, 1], heading[:, 0]], 1)
    two = (low + 1 < n) & (ranked[np.minimum(low + 1, n - 1)] == ends)
    follows = np.where(two & (heading[second] == right_turn).all(1), second, first)
    seen, after = bytearray(n), follows.tolist()
    shells, holes = [], []
    for k in range(n):
        if seen[k]:
            continue
        loop = []
        while not seen[k]:
            seen[k] = 1
            loop.append(k)
            k = after[k]
        for ring in _simple_rings(segments[loop, 0], starts[loop]):
            ring = np.concatenate([ring, ring[:1]])
            area = np.dot(ring[:-1, 0], ring[1:, 1]) - np.dot(ring[1:, 0], ring[:-1, 1])
            (shells if area > 0 else holes).append(ring)
    if len(shells) == 1:
        geometry = shapely.Polygon(shells[0], holes)
    else:
        outer = np.array([shapely.Polygon(r) for r in shells])
        inside = [[] for _ in shells]
        for hole in holes:
            x, y = shapely.get_coordinates(shapely.point_on_surface(shapely.Polygon(hole)))[0]
            inside[int(np.flatnonzero(shapely.contains_xy(outer, x, y))[0])].append(hole)
        geometry = shapely.MultiPolygon([shapely.Polygon(r, h) for r, h in zip(shells, inside)])
    return geometry if shapely.is_valid(geometry) else None


def mask_polygon(mask: np.ndarray) -> shapely.Polygon | shapely.MultiPolygon:
    """The valid (Multi)Polygon, in the mask's own pixel-edge coordinates, whose pixel centres inside are
    exactly the mask's True pixels: no collinear vertices, holes kept, one part per 4-connected region.
    The outline is chained into its rings (_chained); should that not give a valid geometry, it is
    polygonized (shapely) and the faces inside the mask kept."""
    segments = _outline(mask)
    chained = _chained(segments)
    if chained is not None:
        return shapely.orient_polygons(chained)
    faces = shapely.get_parts(shapely.polygonize(shapely.linestrings(segments)))
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
