"""Masks to polygons: outlines chained into rings give the geometry polygonizing them gives, valid and exact."""

import numpy as np
import pytest
import shapely

from flexunet.data.polygons import _chained, _outline, mask_polygon, rasterize


def picture(*rows: str) -> np.ndarray:
    return np.array([[ch == "#" for ch in r] for r in rows])


def polygonized(mask: np.ndarray) -> shapely.Geometry:
    faces = shapely.get_parts(shapely.polygonize(shapely.linestrings(_outline(mask))))
    x, y = shapely.get_coordinates(shapely.point_on_surface(faces)).T
    parts = faces[mask[np.floor(y).astype(int), np.floor(x).astype(int)]]
    return parts[0] if len(parts) == 1 else shapely.multipolygons(parts)


# name: (mask, expected geometry in pixel-edge coordinates, shells, holes)
CASES = {
    "square": (picture("##", "##"), shapely.box(0, 0, 2, 2), 1, 0),
    "hole": (picture("###", "#.#", "###"), shapely.Polygon(shapely.box(0, 0, 3, 3).exterior.coords,
                                                           [shapely.box(1, 1, 2, 2).exterior.coords]), 1, 0 + 1),
    "two parts touching at a corner": (picture("#.", ".#"),
                                       shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(1, 1, 2, 2)]), 2, 0),
    "hole touching the outline at a corner": (
        picture("####", "#..#", "#.##", "##.."),
        shapely.difference(shapely.box(0, 0, 4, 4), shapely.union_all([shapely.box(1, 1, 3, 2), shapely.box(1, 2, 2, 3),
                                                                        shapely.box(2, 3, 4, 4)])), 1, 1),
    "island in a hole": (picture("#####", "#...#", "#.#.#", "#...#", "#####"),
                         shapely.MultiPolygon([shapely.Polygon(shapely.box(0, 0, 5, 5).exterior.coords,
                                                               [shapely.box(1, 1, 4, 4).exterior.coords]),
                                               shapely.box(2, 2, 3, 3)]), 2, 1),
}


@pytest.mark.parametrize("name", CASES)
def test_chained_outline_by_hand(name):
    mask, expected, shells, holes = CASES[name]
    got = mask_polygon(mask)
    assert shapely.is_valid(got) and shapely.equals(got, expected), got.wkt
    assert _chained(_outline(mask)) is not None  # no fall-back to polygonize
    parts = shapely.get_parts(got)
    assert len(parts) == shells and sum(shapely.get_num_interior_rings(parts)) == holes
    np.testing.assert_array_equal(rasterize(got, (0, 0, *mask.shape)), mask)


def test_outline_segments_keep_the_mask_on_their_right():
    segments = {tuple(s) for s in _outline(picture("#")).reshape(-1, 4).tolist()}  # (x0, y0, x1, y1), y down
    assert segments == {(0, 0, 1, 0), (1, 0, 1, 1), (1, 1, 0, 1), (0, 1, 0, 0)}


@pytest.mark.parametrize("seed", range(3))
def test_same_geometry_as_polygonize_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    for _ in range(150):
        shape = tuple(rng.integers(1, 20, 2))
        mask = rng.random(shape) < rng.uniform(0.3, 0.95)
        if not mask.any():
            continue
        got, expected = mask_polygon(mask), polygonized(mask)
        assert shapely.is_valid(got) and shapely.equals(got, expected)
        assert got.geom_type == expected.geom_type
        assert shapely.get_num_coordinates(got) == shapely.get_num_coordinates(expected)
        np.testing.assert_array_equal(rasterize(got, (0, 0, *shape)), mask)
