"""Cells <-> QuPath GeoJSON: exact round trips, hand-written QuPath annotations, the streaming writer, and one
DataError per kind of bad file."""

import json
import math
import re
import uuid

import numpy as np
import pytest
import shapely
from shapely.geometry import shape as geometry_from_json

from flexunet.data.geojson import (
    CellsGeoJSONWriter,
    cells_to_features,
    label_mask,
    mask_polygon,
    read_cells_geojson,
    read_geojson_measurements,
    write_cells_geojson,
)
from flexunet.data.instances import Cell, cell_from_masks
from flexunet.errors import DataError, OutputError


def art(*rows: str) -> tuple[np.ndarray, np.ndarray]:
    """(cell, nucleus) masks of a picture: '.' outside, '#' cell, 'N' nucleus (part of the cell)."""
    grid = np.array([list(r) for r in rows])
    return grid != ".", grid == "N"


def make_cells(*pictures: tuple[int, tuple[str, ...]]) -> list[Cell]:
    return [cell_from_masks(cell_id, *art(*rows)) for cell_id, rows in pictures]


def rect(x0, y0, x1, y1) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def feature(geometry: dict, name: str = "Cell", object_type: str = "annotation", **properties) -> dict:
    return {"type": "Feature", "geometry": geometry,
            "properties": {"objectType": object_type, "classification": {"name": name, "color": [1, 2, 3]},
                           **properties}}


def cell_object(geometry: dict, nucleus: dict, **properties) -> dict:
    return {**feature(geometry, object_type="cell", **properties), "nucleusGeometry": nucleus}


def same_cells(got: list[Cell], expected: list[Cell]) -> None:
    assert [c.id for c in got] == [c.id for c in expected]
    for g, e in zip(got, expected):
        assert g.box == e.box, g.id
        np.testing.assert_array_equal(g.cell, e.cell)
        np.testing.assert_array_equal(g.nucleus, e.nucleus)


# name: (image shape, [(cell id, picture)]), each picture the whole image
ROUND_TRIPS = {
    "rectangle": ((5, 8), [(1, ("........",
                                ".####...",
                                ".#NN#...",
                                ".####...",
                                "........"))]),
    "L shape": ((4, 6), [(4, ("##....",
                              "#N....",
                              "#####.",
                              "......"))]),
    "hole": ((5, 7), [(2, (".#####.",
                           ".N...#.",
                           ".#...#.",
                           ".#####.",
                           "......."))]),
    "two parts": ((3, 6), [(9, ("##....",
                                "NN..##",
                                "....##"))]),
    "corner-touching parts": ((4, 4), [(3, ("N#..",
                                            "##..",
                                            "..##",
                                            "..##"))]),
    "two overlapping cells": ((4, 8), [(1, ("#####...",
                                            "#NN##...",
                                            "#####...",
                                            "........")),
                                       (2, ("..######",
                                            "..####N#",
                                            "..######",
                                            "..######"))]),
    "one-pixel nucleus": ((3, 3), [(70000, ("###",
                                            "#N#",
                                            "###"))]),
    "touching every border": ((2, 4), [(5, ("N###",
                                            "####"))]),
}

# name: the first cell's geometry as hand-drawn polygons (pixel-edge coordinates) and its coordinate count
GEOMETRIES = {
    "rectangle": (shapely.box(1, 1, 5, 4), 5),
    "L shape": (shapely.Polygon([(0, 0), (2, 0), (2, 2), (5, 2), (5, 3), (0, 3)]), 7),
    "hole": (shapely.Polygon([(1, 0), (6, 0), (6, 4), (1, 4)], [[(2, 1), (5, 1), (5, 3), (2, 3)]]), 10),
    "two parts": (shapely.MultiPolygon([shapely.box(0, 0, 2, 2), shapely.box(4, 1, 6, 3)]), 10),
    "corner-touching parts": (shapely.MultiPolygon([shapely.box(0, 0, 2, 2), shapely.box(2, 2, 4, 4)]), 10),
    "one-pixel nucleus": (shapely.box(0, 0, 3, 3), 5),
    "touching every border": (shapely.box(0, 0, 4, 2), 5),
}


@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_round_trip_is_exact(tmp_path, name):
    shape, pictures = ROUND_TRIPS[name]
    cells = make_cells(*pictures)
    write_cells_geojson(tmp_path / "c.geojson", cells)
    same_cells(read_cells_geojson(tmp_path / "c.geojson", shape), cells)


@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_every_geometry_is_valid_and_minimal(name):
    features = cells_to_features(make_cells(*ROUND_TRIPS[name][1]))
    for f in features:
        for key in ("geometry", "nucleusGeometry"):
            geometry = geometry_from_json(f[key])
            assert shapely.is_valid(geometry), (key, shapely.is_valid_reason(geometry))
            assert shapely.get_num_coordinates(shapely.simplify(geometry, 0)) == shapely.get_num_coordinates(geometry)
    if name in GEOMETRIES:
        expected, count = GEOMETRIES[name]
        got = geometry_from_json(features[0]["geometry"])
        assert got.geom_type == expected.geom_type and shapely.equals(got, expected)
        assert shapely.get_num_coordinates(got) == count


def test_rectangle_feature_is_a_qupath_cell_object():
    (f,) = cells_to_features(make_cells(*ROUND_TRIPS["rectangle"][1]), classification="Tumor")
    assert f["type"] == "Feature" and uuid.UUID(f["id"]).version == 5
    assert shapely.equals(geometry_from_json(f["nucleusGeometry"]), shapely.box(2, 2, 4, 3))
    assert f["properties"]["objectType"] == "cell" and f["properties"]["cell_id"] == 1
    assert f["properties"]["classification"]["name"] == "Tumor"
    assert len(f["properties"]["classification"]["color"]) == 3
    assert all(isinstance(v, int) for ring in f["geometry"]["coordinates"] for point in ring for v in point)


def test_ids_are_deterministic_and_distinct():
    cells = make_cells(*ROUND_TRIPS["two overlapping cells"][1])
    first, again = cells_to_features(cells), cells_to_features(cells)
    assert [f["id"] for f in first] == [f["id"] for f in again]
    assert first[0]["id"] != first[1]["id"]


def test_offset_moves_cells_into_slide_coordinates(tmp_path):
    cells = make_cells(*ROUND_TRIPS["rectangle"][1])
    (f,) = cells_to_features(cells, offset=(10, 20))
    assert shapely.equals(geometry_from_json(f["geometry"]), shapely.box(21, 11, 25, 14))
    with CellsGeoJSONWriter(tmp_path / "s.geojson") as out:
        out.add(cells, offset=(10, 20))
    same_cells(read_cells_geojson(tmp_path / "s.geojson", (30, 40)), [cells[0].shifted(10, 20)])


ROWS = {1: {"file": "a.png", "cell": 1, "nucleus_area_px": 120.0, "nc_ratio": math.nan, "cell_area_px": np.int64(400),
            "eccentricity": np.float32(0.5), "note": "binucleate", "flagged": True},
        2: {"file": "a.png", "cell": 2, "nucleus_area_px": 15.0, "nc_ratio": 0.31}}


def test_properties_equal_the_rows_and_nan_travels_as_null(tmp_path):
    cells = make_cells(*ROUND_TRIPS["two overlapping cells"][1])
    write_cells_geojson(tmp_path / "c.geojson", cells, ROWS)
    text = (tmp_path / "c.geojson").read_text()
    data = json.loads(text, parse_constant=lambda token: pytest.fail(f"non-JSON token {token}"))
    first, second = (f["properties"] for f in data["features"])
    assert first["measurements"] == {"cell": 1, "nucleus_area_px": 120.0, "cell_area_px": 400, "eccentricity": 0.5}
    assert first["extraValues"] == {"nc_ratio": None, "note": "binucleate", "flagged": True}
    assert second["measurements"] == {"cell": 2, "nucleus_area_px": 15.0, "nc_ratio": 0.31}
    assert "extraValues" not in second
    back = read_geojson_measurements(tmp_path / "c.geojson")
    assert back.keys() == {1, 2}
    assert math.isnan(back[1].pop("nc_ratio"))
    assert back[1] == {"cell": 1, "nucleus_area_px": 120.0, "cell_area_px": 400, "eccentricity": 0.5,
                       "note": "binucleate", "flagged": True}
    assert back[2] == {k: v for k, v in ROWS[2].items() if k != "file"}


def test_qupath_measurements_in_either_layout_and_nan_tokens(tmp_path):
    path = tmp_path / "q.geojson"
    path.write_text('[{"type": "Feature", "geometry": null, "properties": {"measurements": {"Area": 12.5, '
                    '"Mean": NaN}}}, {"type": "Feature", "geometry": null, "properties": {"cell_id": 7, '
                    '"measurements": [{"name": "Area", "value": 3}]}}]')
    rows = read_geojson_measurements(path)
    assert rows.keys() == {1, 7} and rows[7] == {"Area": 3}
    assert rows[1]["Area"] == 12.5 and math.isnan(rows[1]["Mean"])


# QuPath annotations: cells and nuclei as separate features (24 x 24 image). Cell 2 overlaps cell 1's
# corner; the nucleus at (12..14, 12..14) lies in both and goes to the smaller, cell 2. Cell 3 is a
# cytoplasm drawn around its nucleus (a hole where the nucleus is): the cell takes the nucleus in.
ANNOTATIONS = {"type": "FeatureCollection", "features": [
    feature(rect(0, 0, 16, 16), "Cell", measurements=[{"name": "Area", "value": 256}]),
    feature(rect(3, 3, 6, 6), "Nucleus"),
    feature(rect(10, 10, 18, 18), "Cell", object_type="detection"),
    feature(rect(12, 12, 14, 14), "nucleus", object_type="detection"),
    feature({"type": "Polygon", "coordinates": [rect(18, 0, 24, 8)["coordinates"][0],
                                                rect(20, 3, 22, 5)["coordinates"][0][::-1]]}, "Cytoplasm"),
    feature(rect(20, 3, 22, 5), "NUCLEUS"),
]}


def full_cell(cell_id, cell_box, nucleus_box, shape=(24, 24)) -> Cell:
    cell, nucleus = np.zeros(shape, bool), np.zeros(shape, bool)
    cell[cell_box[0]:cell_box[2], cell_box[1]:cell_box[3]] = True
    nucleus[nucleus_box[0]:nucleus_box[2], nucleus_box[1]:nucleus_box[3]] = True
    return cell_from_masks(cell_id, cell, nucleus)


def test_qupath_annotations_import_as_cells_with_their_nuclei(tmp_path):
    path = tmp_path / "qupath.geojson"
    path.write_text(json.dumps(ANNOTATIONS, indent=2))
    same_cells(read_cells_geojson(path, (24, 24)), [full_cell(1, (0, 0, 16, 16), (3, 3, 6, 6)),
                                                    full_cell(2, (10, 10, 18, 18), (12, 12, 14, 14)),
                                                    full_cell(3, (0, 18, 8, 24), (3, 20, 5, 22))])
    assert read_geojson_measurements(path) == {1: {"Area": 256}, 2: {}, 3: {}}


def test_two_nuclei_in_one_cell_make_one_nucleus(tmp_path):
    path = tmp_path / "b.geojson"
    path.write_text(json.dumps([feature(rect(0, 0, 8, 4)), feature(rect(1, 1, 2, 2), "Nucleus"),
                                feature(rect(5, 1, 7, 3), "Nucleus")]))
    (cell,) = read_cells_geojson(path, (4, 8))
    assert cell.nucleus_area == 1 + 4 and cell.box == (0, 0, 4, 8)


@pytest.mark.parametrize("content, ids", [
    (cell_object(rect(0, 0, 2, 2), rect(0, 0, 1, 1)), [1]),
    ([cell_object(rect(0, 0, 2, 2), rect(0, 0, 1, 1), cell_id=8), cell_object(rect(2, 2, 4, 4), rect(3, 3, 4, 4))],
     [8, 2]),
])
def test_a_single_feature_or_a_bare_list_reads(tmp_path, content, ids):
    (tmp_path / "f.json").write_text(json.dumps(content))
    assert [c.id for c in read_cells_geojson(tmp_path / "f.json", (4, 4))] == ids


def test_a_cell_without_nucleus_reads_when_allowed(tmp_path):
    cell, _ = art("##", "##")
    write_cells_geojson(tmp_path / "c.geojson", [Cell(1, (0, 0, 2, 2), cell, np.zeros_like(cell))])
    (got,) = read_cells_geojson(tmp_path / "c.geojson", (2, 2), require_nucleus=False)
    assert got.cell_area == 4 and got.nucleus_area == 0


def test_streaming_writer_gives_the_one_shot_file(tmp_path):
    cells = make_cells(*ROUND_TRIPS["two overlapping cells"][1]) + make_cells((7, ROUND_TRIPS["hole"][1][0][1]))
    write_cells_geojson(tmp_path / "one.geojson", cells, ROWS)
    with CellsGeoJSONWriter(tmp_path / "stream.geojson") as out:
        out.add(cells[:2], ROWS)
        out.add(cells[2:])
    assert out.count == 3
    text = (tmp_path / "stream.geojson").read_text()
    assert text == (tmp_path / "one.geojson").read_text()
    assert len(json.loads(text)["features"]) == 3


def test_streaming_writer_leaves_nothing_when_it_fails(tmp_path):
    with pytest.raises(RuntimeError, match="tile failed"), CellsGeoJSONWriter(tmp_path / "s.geojson") as out:
        out.add(make_cells(*ROUND_TRIPS["rectangle"][1]))
        raise RuntimeError("tile failed")
    assert list(tmp_path.iterdir()) == []


def test_streaming_writer_names_a_path_it_cannot_write(tmp_path):
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(OutputError, match="writing .*taken/s.geojson"):
        with CellsGeoJSONWriter(tmp_path / "taken" / "s.geojson"):
            pass


def test_empty_collection_is_valid_json(tmp_path):
    with CellsGeoJSONWriter(tmp_path / "e.geojson"):
        pass
    assert json.loads((tmp_path / "e.geojson").read_text()) == {"type": "FeatureCollection", "features": []}
    assert read_cells_geojson(tmp_path / "e.geojson", (4, 4)) == []


def test_label_mask_marks_cytoplasm_and_nuclei():
    cells = make_cells(*ROUND_TRIPS["two overlapping cells"][1])
    expected = np.array([[1, 1, 1, 1, 1, 1, 1, 1],
                         [1, 2, 2, 1, 1, 1, 2, 1],
                         [1, 1, 1, 1, 1, 1, 1, 1],
                         [0, 0, 1, 1, 1, 1, 1, 1]], np.uint8)
    got = label_mask(cells, (4, 8))
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


def test_mask_polygon_of_nothing_is_refused():
    with pytest.raises(ValueError, match="empty mask"):
        mask_polygon(np.zeros((3, 3), bool))


BOW_TIE = {"type": "Polygon", "coordinates": [[[0, 0], [4, 4], [4, 0], [0, 4], [0, 0]]]}

# name: (file content (JSON-able or raw text), message after "cells annotation <path>: ")
ERRORS = {
    "bow-tie": ([feature(BOW_TIE), feature(rect(1, 1, 2, 2), "Nucleus")],
                r"feature 1 \(cell 1\): the polygon is not valid \(Self-intersection\[2 2\]\)"),
    "cell without nucleus": ([feature(rect(0, 0, 4, 4))], r"feature 1 \(cell 1\): has no nucleus \(expected"),
    "nucleus in no cell": ([feature(rect(0, 0, 4, 4)), feature(rect(0, 0, 1, 1), "Nucleus"),
                            feature(rect(8, 8, 9, 9), "Nucleus")],
                           r"feature 3 \(nucleus\): its centroid \(8\.5, 8\.5\) lies in no cell"),
    "point": ([{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 1]}, "properties": {}}],
              r"feature 1 \(cell 1\): geometry type Point is not supported \(expected Polygon or MultiPolygon\)"),
    "broken JSON": ('{"type": "FeatureCollection", "features": [',
                    r"not JSON \(Expecting value at line 1, column \d+\)"),
    "not GeoJSON": ({"type": "Topology"}, r"not GeoJSON \(expected a FeatureCollection, .*found type 'Topology'\)"),
    "not a feature": ([{"type": "Polygon"}], r'feature 1: not a GeoJSON Feature \(expected "type": "Feature"\)'),
    "duplicate ids": ([cell_object(rect(0, 0, 4, 4), rect(1, 1, 2, 2), cell_id=3),
                       cell_object(rect(4, 4, 8, 8), rect(5, 5, 6, 6), cell_id=3)],
                      r"feature 2 \(cell 3\): duplicate cell id 3 \(feature 1 has it too\)"),
    "bad id": ([cell_object(rect(0, 0, 4, 4), rect(1, 1, 2, 2), cell_id=0)],
               r"feature 1: cell_id 0 is not a whole number above 0"),
    "outside the image": ([cell_object(rect(0, 0, 12, 4), rect(1, 1, 2, 2))],
                          (r"feature 1 \(cell 1\): the polygon lies outside the image \(x 0\.\.12, y 0\.\.4; "
                           r"expected x 0\.\.10, y 0\.\.10 with 1 px of slack\)")),
    "nucleus outside the image": ([cell_object(rect(0, 0, 4, 4), rect(-3, 1, 2, 2))],
                                  r"feature 1 \(cell 1\): the nucleusGeometry polygon lies outside the image"),
    "nucleus sticks out": ([cell_object(rect(0, 0, 4, 4), rect(2, 2, 6, 6))],
                           (r"feature 1 \(cell 1\): the nucleus sticks out of the cell by 12\.0 square px "
                            r"\(75% of it; expected at most 5% or 4 square px\)")),
    "loose nucleus sticks out": ([feature(rect(0, 0, 4, 4)), feature(rect(0, 1, 7, 3), "Nucleus")],
                                 r"feature 2 \(nucleus of cell 1\): the nucleus sticks out of the cell by 6\.0"),
    "nucleus covers no pixel": ([cell_object(rect(0, 0, 4, 4), rect(1.6, 1.6, 1.9, 1.9))],
                                r"feature 1 \(cell 1\): the nucleus covers no pixel centre"),
    "cell covers no pixel": ([cell_object(rect(1.6, 1.6, 1.9, 1.9), rect(1.7, 1.7, 1.8, 1.8))],
                             r"feature 1 \(cell 1\): the cell covers no pixel centre"),
    "too few points": ([feature({"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]})],
                       r"feature 1 \(cell 1\): the polygon has bad coordinates \(A linearring requires at least 4"),
}


@pytest.mark.parametrize("name", ERRORS)
def test_bad_file_raises_one_line_naming_file_and_feature(tmp_path, name):
    content, message = ERRORS[name]
    path = tmp_path / "a.geojson"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(DataError, match=f"^cells annotation {re.escape(str(path))}: {message}") as caught:
        read_cells_geojson(path, (10, 10))
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"cells annotation .*nope\.geojson: file not found"):
        read_geojson_measurements(tmp_path / "nope.geojson")
