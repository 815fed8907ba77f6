"""Cells as QuPath-compatible GeoJSON: one Feature per cell with its nucleus, lossless to and from masks.

A cell is a QuPath cell object as QuPath 0.4 and 0.5 write them (they import the file by drag and drop):
    {"type": "Feature", "id": "<uuid5 of the cell id>", "geometry": <the whole cell>,
     "nucleusGeometry": <its nucleus>, "properties": {"objectType": "cell", "cell_id": 3,
     "classification": {"name": "Cell", "color": [r, g, b]}, "measurements": {"cell": 3, "nc_ratio": 0.3},
     "extraValues": {"texture": null, "note": "binucleate"}}}
Coordinates are pixel edges (x right, y down; pixel (row r, col c) is [c, c + 1] x [r, r + 1]); a polygon
stands for the pixels whose centre lies inside it, so mask -> polygon -> mask is exact. QuPath reads every
measurement as a number and fails on null or text, so `measurements` holds the row's finite numbers and
`extraValues` (ignored by QuPath) the rest, NaN as null; reading merges them back (null as NaN).

Reading also takes separate cell and nucleus features (QuPath annotations or detections): a nucleus has
the classification "Nucleus"/"Nuclei" (any case) or objectType "nucleus". It belongs to the smallest cell
whose outline, holes filled (a cytoplasm drawn around its nucleus), holds the nucleus' centroid; two
nuclei of one cell (binucleate) make one nucleus mask. A nucleus may stick out of its cell by at most
NUCLEUS_OUTSIDE_FRACTION of its area or NUCLEUS_OUTSIDE_PX square px, whichever is larger (the cell takes
it in). Error messages count features from 1.
"""

import contextlib
import json
import math
import os
import tempfile
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape as geometry_from_json
from shapely.validation import explain_validity

from flexunet.data.instances import Cell, bounding_box, paint
from flexunet.data.polygons import mask_polygon, rasterize
from flexunet.errors import DataError, OutputError
from flexunet.fsutil import UMASK, atomic_write_text

EXTRA_KEY = "extraValues"
ID_KEY = "cell_id"
NUCLEUS_NAMES = ("nucleus", "nuclei")
NUCLEUS_OUTSIDE_FRACTION = 0.05
NUCLEUS_OUTSIDE_PX = 4.0
COORDINATE_SLACK_PX = 1.0
CLASS_COLORS = {"cell": [255, 200, 0], "cytoplasm": [255, 200, 0], "nucleus": [200, 0, 160]}
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "flexunet/cells")
_HEADER = '{"type": "FeatureCollection", "features": [\n'
_FOOTER = "\n]}\n"


def _geometry_json(geometry: shapely.Geometry, x0: int, y0: int) -> dict:
    """GeoJSON of an integer-vertex (Multi)Polygon moved by (x0, y0), with integer coordinates."""
    def rings(polygon: shapely.Polygon) -> list:
        return [(np.asarray(r.coords, np.int64) + (x0, y0)).tolist() for r in (polygon.exterior, *polygon.interiors)]

    if geometry.geom_type == "Polygon":
        return {"type": "Polygon", "coordinates": rings(geometry)}
    return {"type": "MultiPolygon", "coordinates": [rings(p) for p in geometry.geoms]}


def _split_row(row: Mapping) -> tuple[dict, dict]:
    """A measurement row as (QuPath measurements: the finite numbers, extra values: the rest, NaN as null);
    the `file` column is left out."""
    measurements, extra = {}, {}
    for key, value in row.items():
        if key == "file":
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            measurements[key] = value
        else:
            extra[key] = None if isinstance(value, float) else value
    return measurements, extra


def class_color(name: str) -> list[int]:
    """The classification colour QuPath shows: fixed for cell, cytoplasm and nucleus, else made from the name."""
    code = zlib.crc32(name.encode("utf-8"))
    return list(CLASS_COLORS.get(name.lower(), [64 + (code >> shift & 0xFF) * 3 // 4 for shift in (0, 8, 16)]))


def _features(cells: Iterable[Cell], rows: Mapping[int, Mapping] | None, classification: str,
              offset: tuple[int, int]) -> Iterator[dict]:
    dy, dx = (int(v) for v in offset)
    color = class_color(classification)
    for c in cells:
        top, left = c.box[0] + dy, c.box[1] + dx
        feature = {"type": "Feature", "id": str(uuid.uuid5(_UUID_NAMESPACE, str(c.id))),
                   "geometry": _geometry_json(mask_polygon(c.cell), left, top)}
        if c.nucleus.any():
            feature["nucleusGeometry"] = _geometry_json(mask_polygon(c.nucleus), left, top)
        properties = {"objectType": "cell", "classification": {"name": classification, "color": color},
                      ID_KEY: int(c.id)}
        row = (rows or {}).get(c.id)
        if row is not None:
            measurements, extra = _split_row(row)
            properties["measurements"] = measurements
            if extra:
                properties[EXTRA_KEY] = extra
        feature["properties"] = properties
        yield feature


def cells_to_features(cells: Iterable[Cell], rows: Mapping[int, Mapping] | None = None,
                      classification: str = "Cell", offset: tuple[int, int] = (0, 0)) -> list[dict]:
    """QuPath cell Features of the cells, moved by `offset` (dy, dx); `rows` maps a cell id to its
    measurement row (a cell without one gets no measurements)."""
    return list(_features(cells, rows, classification, offset))


def _dumps(feature: dict) -> str:
    return json.dumps(feature, separators=(",", ":"), allow_nan=False)


def write_cells_geojson(path: str | os.PathLike, cells: Iterable[Cell], rows: Mapping[int, Mapping] | None = None,
                        classification: str = "Cell") -> None:
    """Write the cells as a GeoJSON FeatureCollection of QuPath cell objects (atomically)."""
    features = cells_to_features(cells, rows, classification)
    atomic_write_text(path, _HEADER + ",\n".join(_dumps(f) for f in features) + _FOOTER)


class CellsGeoJSONWriter:
    """A FeatureCollection written chunk by chunk (a whole slide, tile by tile): memory stays that of one
    chunk; the file is written under a temp name beside `path` and renamed over it at close, and removed
    instead when the `with` block fails. The text equals write_cells_geojson's for the same cells.

        with CellsGeoJSONWriter("slide.geojson") as out:
            for (dy, dx), cells, rows in tiles:
                out.add(cells, rows, offset=(dy, dx))
    """

    def __init__(self, path: str | os.PathLike, classification: str = "Cell"):
        self.path = Path(path)
        self.classification = classification
        self.count = 0
        self._handle = self._tmp = None

    def __enter__(self) -> "CellsGeoJSONWriter":  # noqa: PYI034 (typing.Self needs Python 3.11)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            self._handle = os.fdopen(fd, "w", encoding="utf-8")
            self._handle.write(_HEADER)
        except OSError as exc:
            self._fail(exc)
        return self

    def add(self, cells: Iterable[Cell], rows: Mapping[int, Mapping] | None = None,
            offset: tuple[int, int] = (0, 0)) -> None:
        """Append the cells (moved by `offset` (dy, dx), e.g. a tile's place in the slide)."""
        if self._handle is None:
            raise RuntimeError("CellsGeoJSONWriter.add outside its with block")
        chunk = []
        for feature in _features(cells, rows, self.classification, offset):
            chunk.append((",\n" if self.count else "") + _dumps(feature))
            self.count += 1
        try:
            self._handle.write("".join(chunk))
        except OSError as exc:
            self._fail(exc)

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if exc_type is not None:
            self._abort()
            return
        try:
            self._handle.write(_FOOTER)
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            os.chmod(self._tmp, 0o666 & ~UMASK)
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self._fail(exc)
        self._handle = self._tmp = None

    def _fail(self, exc: OSError) -> None:
        self._abort()
        raise OutputError(f"writing {self.path}: {exc.strerror or exc}") from exc

    def _abort(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
        self._handle = self._tmp = None


def label_mask(cells: Iterable[Cell], shape: tuple[int, int]) -> np.ndarray:
    """The 3-class label mask (H, W) uint8 the cells stand for: 0 background, 1 cytoplasm (inside any
    cell), 2 nucleus (inside any nucleus)."""
    cells = list(cells)
    out = paint(cells, shape, "cell", bool).astype(np.uint8)
    out[paint(cells, shape, "nucleus", bool)] = 2
    return out


def _where(path: str | os.PathLike) -> str:
    return f"cells annotation {path}"


def _one_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _load_features(path: str | os.PathLike) -> list[dict]:
    """The Features of a FeatureCollection, a single Feature or a bare list of Features."""
    where = _where(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError(f"{where}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: cannot be read ({_one_line(exc)})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from exc
    kind = data.get("type") if isinstance(data, dict) else None
    features = {"FeatureCollection": data.get("features"), "Feature": [data]}.get(kind) if kind else data
    if not isinstance(features, list):
        found = f"type {kind!r}" if isinstance(data, dict) else type(data).__name__
        raise DataError(f"{where}: not GeoJSON (expected a FeatureCollection, a Feature or a list of Features, "
                        f"found {found})")
    for number, feature in enumerate(features, 1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise DataError(f'{where}: feature {number}: not a GeoJSON Feature (expected "type": "Feature")')
    return features


def _properties(feature: dict) -> dict:
    properties = feature.get("properties")
    return properties if isinstance(properties, dict) else {}


def _is_nucleus(feature: dict) -> bool:
    properties = _properties(feature)
    kind = str(properties.get("objectType", properties.get("object_type", ""))).lower()
    if feature.get("nucleusGeometry") is not None or kind == "cell":
        return False
    classification = properties.get("classification")
    name = classification.get("name") if isinstance(classification, dict) else classification
    return kind == "nucleus" or (isinstance(name, str) and name.strip().lower() in NUCLEUS_NAMES)


def _positive_int(value) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _cell_ids(path: str | os.PathLike, cells: list[tuple[int, dict]]) -> list[int]:
    """Each cell feature's id: its cell_id property, else its place among the cells (1, 2, ...)."""
    ids, seen = [], {}
    for place, (number, feature) in enumerate(cells, 1):
        raw = _properties(feature).get(ID_KEY)
        cell_id = place if raw is None else _positive_int(raw)
        if cell_id is None:
            raise DataError(f"{_where(path)}: feature {number}: {ID_KEY} {raw!r} is not a whole number above 0")
        if cell_id in seen:
            raise DataError(f"{_where(path)}: feature {number} (cell {cell_id}): duplicate cell id {cell_id} "
                            f"(feature {seen[cell_id]} has it too)")
        seen[cell_id] = number
        ids.append(cell_id)
    return ids


def _geometry(raw, shape: tuple[int, int], context: str, key: str = "geometry") -> shapely.Geometry:
    """The valid (Multi)Polygon of a GeoJSON geometry inside the image (with COORDINATE_SLACK_PX)."""
    what = "the polygon" if key == "geometry" else f"the {key} polygon"
    if not isinstance(raw, dict):
        raise DataError(f"{context}: has no {key}")
    if raw.get("type") not in ("Polygon", "MultiPolygon"):
        raise DataError(f"{context}: {key} type {raw.get('type')} is not supported (expected Polygon or MultiPolygon)")
    try:
        geometry = shapely.force_2d(geometry_from_json(raw))
    except (KeyError, TypeError, ValueError, IndexError, shapely.errors.GEOSException) as exc:
        raise DataError(f"{context}: {what} has bad coordinates ({_one_line(exc)})") from exc
    if geometry.is_empty:
        raise DataError(f"{context}: {what} is empty")
    if not shapely.is_valid(geometry):
        raise DataError(f"{context}: {what} is not valid ({explain_validity(geometry)})")
    (height, width), slack = shape, COORDINATE_SLACK_PX
    x0, y0, x1, y1 = geometry.bounds
    if x0 < -slack or y0 < -slack or x1 > width + slack or y1 > height + slack:
        raise DataError(f"{context}: {what} lies outside the image (x {x0:g}..{x1:g}, y {y0:g}..{y1:g}; "
                        f"expected x 0..{width}, y 0..{height} with {slack:g} px of slack)")
    return geometry


def _filled(geometry: shapely.Geometry) -> shapely.Geometry:
    """The outline with its holes filled."""
    if geometry.geom_type == "Polygon":
        return shapely.Polygon(geometry.exterior)
    return shapely.union_all(shapely.polygons(shapely.get_exterior_ring(shapely.get_parts(geometry))))


def _owners(nuclei: list[tuple[int, shapely.Geometry]], outlines: list[shapely.Geometry], where: str) -> list[int]:
    """For each nucleus, the index of the smallest cell outline holding its centroid."""
    centroids = shapely.centroid([g for _, g in nuclei])
    areas = shapely.area(outlines)
    owner = np.full(len(nuclei), -1)
    if outlines and nuclei:
        for n, c in shapely.STRtree(outlines).query(centroids, predicate="within").T:
            if owner[n] < 0 or (areas[c], c) < (areas[owner[n]], owner[n]):
                owner[n] = c
    for n in np.flatnonzero(owner < 0):
        x, y = centroids[n].x, centroids[n].y
        raise DataError(f"{where}: feature {nuclei[n][0]} (nucleus): its centroid ({x:.1f}, {y:.1f}) lies in no cell")
    return owner.tolist()


def _check_nucleus(nucleus: shapely.Geometry, outline: shapely.Geometry, context: str) -> None:
    area, outside = nucleus.area, shapely.difference(nucleus, outline).area
    if outside > max(NUCLEUS_OUTSIDE_PX, NUCLEUS_OUTSIDE_FRACTION * area):
        raise DataError(f"{context}: the nucleus sticks out of the cell by {outside:.1f} square px "
                        f"({outside / area:.0%} of it; expected at most {NUCLEUS_OUTSIDE_FRACTION:.0%} "
                        f"or {NUCLEUS_OUTSIDE_PX:g} square px)")


def _cell(cell_id: int, geometry: shapely.Geometry, nuclei: list[shapely.Geometry], shape: tuple[int, int],
          context: str, require_nucleus: bool) -> Cell:
    nucleus = shapely.union_all(nuclei) if nuclei else None
    x0, y0, x1, y1 = shapely.total_bounds([geometry, nucleus])
    top, left = max(0, math.floor(y0)), max(0, math.floor(x0))
    box = (top, left, max(top, min(shape[0], math.ceil(y1))), max(left, min(shape[1], math.ceil(x1))))
    inner = rasterize(nucleus, box) if nucleus is not None else np.zeros((box[2] - top, box[3] - left), bool)
    whole = rasterize(geometry, box) | inner
    tight = bounding_box(whole)
    if tight is None:
        raise DataError(f"{context}: the cell covers no pixel centre")
    if require_nucleus and not inner.any():
        raise DataError(f"{context}: " + ("has no nucleus (expected a nucleusGeometry, or a Nucleus feature whose "
                                          "centroid lies in the cell)" if nucleus is None
                                          else "the nucleus covers no pixel centre"))
    t, lft, b, r = tight
    return Cell(cell_id, (top + t, left + lft, top + b, left + r), whole[t:b, lft:r].copy(), inner[t:b, lft:r].copy())


def read_cells_geojson(path: str | os.PathLike, shape: tuple[int, int], *, require_nucleus: bool = True) -> list[Cell]:
    """The cells of a GeoJSON file (QuPath cell objects, or separate cell and nucleus features) on an image
    of `shape` (H, W), in file order; `require_nucleus` False lets a cell come without a nucleus."""
    where = _where(path)
    numbered = list(enumerate(_load_features(path), 1))
    cells = [(n, f) for n, f in numbered if not _is_nucleus(f)]
    ids = _cell_ids(path, cells)
    contexts = [f"{where}: feature {n} (cell {i})" for (n, _), i in zip(cells, ids)]
    geometries = [_geometry(f.get("geometry"), shape, c) for (_, f), c in zip(cells, contexts)]
    outlines = [_filled(g) for g in geometries]
    nuclei: list[list[shapely.Geometry]] = [[] for _ in cells]
    for k, ((_, feature), context) in enumerate(zip(cells, contexts)):
        if feature.get("nucleusGeometry") is not None:
            nuclei[k].append(_geometry(feature["nucleusGeometry"], shape, context, "nucleusGeometry"))
            _check_nucleus(nuclei[k][-1], outlines[k], context)
    loose = [(n, _geometry(f.get("geometry"), shape, f"{where}: feature {n} (nucleus)"))
             for n, f in numbered if _is_nucleus(f)]
    for (n, geometry), k in zip(loose, _owners(loose, outlines, where)):
        _check_nucleus(geometry, outlines[k], f"{where}: feature {n} (nucleus of cell {ids[k]})")
        nuclei[k].append(geometry)
    return [_cell(*args, shape, context, require_nucleus)
            for *args, context in zip(ids, geometries, nuclei, contexts)]


def _row(properties: dict) -> dict:
    """A feature's measurement row: QuPath measurements (an object, or a list of name/value pairs as before
    QuPath 0.4) and the extra values, null as NaN."""
    found = properties.get("measurements")
    if isinstance(found, list):
        row = {m.get("name"): m.get("value") for m in found if isinstance(m, dict)}
    else:
        row = dict(found) if isinstance(found, dict) else {}
    extra = properties.get(EXTRA_KEY)
    row.update(extra if isinstance(extra, dict) else {})
    return {key: math.nan if value is None else value for key, value in row.items()}


def read_geojson_measurements(path: str | os.PathLike) -> dict[int, dict]:
    """Each cell's measurement row by cell id (ids as read_cells_geojson gives them)."""
    cells = [(n, f) for n, f in enumerate(_load_features(path), 1) if not _is_nucleus(f)]
    return {cell_id: _row(_properties(f)) for (_, f), cell_id in zip(cells, _cell_ids(path, cells))}


def geojson_labels(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """The 3-class label mask (label_mask) of a GeoJSON of cells on an image of `shape`, or, without a shape,
    on the smallest image holding every cell (enough to check its values)."""
    if shape is None:
        bounds = [shapely.total_bounds(geometry_from_json(f["geometry"])) for f in _load_features(path)
                  if isinstance(f.get("geometry"), dict)]
        shape = (max([math.ceil(b[3]) for b in bounds], default=1), max([math.ceil(b[2]) for b in bounds], default=1))
    return label_mask(read_cells_geojson(path, shape), shape)
