"""Whole slides, streamed: windows of the slide predicted tile by tile, each cell kept once, whole, by the window
that holds its nucleus; the label pyramid, cells.csv rows and GeoJSON written as the windows go.

A window is a core (window_px a side) with halo_px of context around it. The slide is read window by window
(never whole), each window predicted tile by tile as tiled inference does, and its cells built; a cell
belongs to the window whose core holds its nucleus's centroid, so a cell on a seam between windows is
measured once, from the window that sees all of it (cells wider than the halo can be cut: they are counted
as cut). Label tiles are painted one by one from the kept cells as soon as no later window can add to them,
so memory holds one label tile and the cells of one row of windows. Background windows (no tissue on a
thumbnail) are skipped and counted.
"""

import csv
import json
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from flexunet.data.geojson import CellsGeoJSONWriter
from flexunet.data.instances import Cell, paint
from flexunet.data.pyramid import write_pyramid
from flexunet.data.slides import Slide, open_slide, thumbnail, tile_has_tissue, tissue_mask
from flexunet.fsutil import atomic_write_text
from flexunet.inference.outputs import geojson_name, slide_labels_name, slide_summary_name
from flexunet.inference.predict import PredictFn
from flexunet.inference.prefetch import prefetched
from flexunet.inference.tiling import predict_tiled_many, tile_boxes

CellsOf = Callable[[np.ndarray], list[Cell]]
Box = tuple[int, int, int, int]
LABEL_TILE = 512
PLANES = ("cells", "nuclei")
PLANES_OF = ("cell", "nucleus")  # the Cell mask each plane paints
PREFETCH_WINDOWS = 1  # windows predicted ahead while the cells of one are built


@dataclass(frozen=True)
class SlideSettings:
    """How a slide is streamed ([slide] section): the window core and halo in pixels of the level read, the
    pixel size the model was trained at (picks the level; None = level 0), background skipping, and the
    smallest image (pixels) streamed as a slide rather than read whole."""

    window_px: int = 2048
    halo_px: int = 128
    pixel_size_um: float | None = None
    skip_background: bool = True
    min_pixels: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class SlideSummary:
    """What streaming one slide did (<stem>_slide.json): the level read, its size and pixel size, windows in
    all and skipped as background, cells kept (and how many of them touch their window's edge: cut), tiles
    predicted, seconds in all, and the seconds the thread that reads, predicts and blends the tiles worked
    (while the main thread builds, measures and writes the cells)."""

    slide: str
    level: int
    height: int
    width: int
    pixel_size_um: float | None
    windows: int
    skipped: int
    cells: int
    cut_cells: int
    tiles: int
    seconds: float
    predict_seconds: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"


def window_grid(shape: tuple[int, int], core: int) -> list[list[Box]]:
    """The cores (top, left, bottom, right) tiling an image of `shape`, row by row."""
    height, width = shape
    return [[(top, left, min(top + core, height), min(left + core, width)) for left in range(0, width, core)]
            for top in range(0, height, core)]


def with_halo(box: Box, halo: int, shape: tuple[int, int]) -> Box:
    """The box grown by `halo` on every side, clipped to the image."""
    top, left, bottom, right = box
    return max(top - halo, 0), max(left - halo, 0), min(bottom + halo, shape[0]), min(right + halo, shape[1])


def anchor(cell: Cell) -> tuple[float, float]:
    """(y, x) of the point a cell belongs by: its nucleus's centroid, else its own (in its box's frame)."""
    ys, xs = np.nonzero(cell.nucleus if cell.nucleus.any() else cell.cell)
    return float(ys.mean()), float(xs.mean())


def owned(cell: Cell, core: Box, window: Box) -> bool:
    """Whether a cell found in `window` (its box in the window's frame) belongs to the window's `core` (both
    boxes in slide coordinates): its anchor lies in the core (top and left inclusive)."""
    y, x = anchor(cell)
    y, x = y + cell.box[0] + window[0], x + cell.box[1] + window[1]
    return core[0] <= y < core[2] and core[1] <= x < core[3]


def touches_edge(cell: Cell, window: Box, shape: tuple[int, int]) -> bool:
    """Whether a cell (in the window's frame) reaches an edge of its window that is not the slide's edge."""
    top, left, bottom, right = cell.box
    height, width = window[2] - window[0], window[3] - window[1]
    return ((top == 0 and window[0] > 0) or (left == 0 and window[1] > 0)
            or (bottom == height and window[2] < shape[0]) or (right == width and window[3] < shape[1]))


def label_tile(cells: list[Cell], box: Box) -> np.ndarray:
    """(2, bottom - top, right - left) uint32 planes of cell and nucleus ids of the slide's `box` (top, left,
    bottom, right); where cells overlap, the later in `cells` shows."""
    shape, origin = (box[2] - box[0], box[3] - box[1]), (box[0], box[1])
    return np.stack([paint(cells, shape, which, np.uint32, origin) for which in PLANES_OF])


class _CsvStream:
    """cells.csv rows appended as they come, written to a temp file renamed over the target at close."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path, self.tmp = path, path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.handle = open(self.tmp, "w", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.handle, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        self.writer.writeheader()

    def add(self, rows: list[dict]) -> None:
        self.writer.writerows({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows)

    def close(self, keep: bool) -> None:
        self.handle.close()
        if keep:
            os.replace(self.tmp, self.path)
        elif self.tmp.exists():
            self.tmp.unlink()


def _plan(slide: Slide, level: int, grid: list[list[Box]], halo: int, mask,
          downsample: float) -> list[tuple[Box, Box, bool]]:
    """(core, window, whether it holds tissue) of every window, row by row (nothing is read yet)."""
    shape = slide.levels[level]
    plan = []
    for row in grid:
        for core in row:
            window = with_halo(core, halo, shape)
            tissue = mask is None or tile_has_tissue(mask, downsample, window[0], window[1], window[2] - window[0],
                                                     window[3] - window[1])
            plan.append((core, window, tissue))
    return plan


def infer_slide(path: str | os.PathLike, out: Path, predict: PredictFn, tile: int, overlap: int, batch_size: int,
                cells_of: CellsOf, measure: Callable[[list[Cell], np.ndarray], list[dict]], columns: list[str],
                settings: SlideSettings = SlideSettings()) -> SlideSummary:
    """Stream one slide through the model into `out`: <stem>_cells.ome.tif (a pyramidal 2-plane label image,
    cells and nuclei), <stem>.geojson and <stem>_cells.csv (one row per cell, keyed by its id, from
    `measure(cells, window image)`), and <stem>_slide.json (the summary). `cells_of` makes the cells of a
    window's probabilities; `predict` takes (N, tile, tile, channels)."""
    started = time.perf_counter()
    path = Path(path)
    stem = path.name.split(".")[0]
    with open_slide(path) as slide:
        level = slide.level_for(settings.pixel_size_um) if settings.pixel_size_um else 0
        shape = slide.levels[level]
        pixel_size = slide.level_pixel_size(level)
        mask, downsample = None, 1.0
        if settings.skip_background:
            thumb = thumbnail(slide)
            mask, downsample = tissue_mask(thumb), shape[0] / thumb.shape[0]
        grid = window_grid(shape, settings.window_px)
        counts = {"windows": 0, "skipped": 0, "cells": 0, "cut": 0, "tiles": 0, "predict_seconds": 0.0}
        rows_csv = _CsvStream(out / f"{stem}_cells.csv", columns)
        ok = False
        try:
            with CellsGeoJSONWriter(out / geojson_name(stem)) as geojson:
                tiles = _label_tiles(slide, level, grid, settings, mask, downsample, counts, predict, tile, overlap,
                                     batch_size, cells_of, measure, rows_csv, geojson)
                write_pyramid(out / slide_labels_name(stem), shape, np.uint32, tiles, tile=LABEL_TILE, planes=2,
                              kind="labels", pixel_size_um=pixel_size, plane_names=PLANES,
                              description=f"cell and nucleus ids of {path.name}")
            ok = True
        finally:
            rows_csv.close(ok)
    summary = SlideSummary(str(path), level, shape[0], shape[1], pixel_size, counts["windows"], counts["skipped"],
                           counts["cells"], counts["cut"], counts["tiles"], time.perf_counter() - started,
                           counts["predict_seconds"])
    atomic_write_text(out / slide_summary_name(stem), summary.to_json())
    return summary


def _label_tiles(slide: Slide, level: int, grid: list[list[Box]], settings: SlideSettings, mask, downsample: float,
                 counts: dict, predict: PredictFn, tile: int, overlap: int, batch_size: int, cells_of: CellsOf,
                 measure, rows_csv: _CsvStream, geojson: CellsGeoJSONWriter) -> Iterator[np.ndarray]:
    """The slide's label tiles (2, LABEL_TILE, LABEL_TILE) in row-major order, painted once no later window
    can add a cell to them; the cells' rows and GeoJSON features written on the way."""
    shape = slide.levels[level]
    pending: list[Cell] = []
    emitted = 0  # label tile rows written
    tile_rows = math.ceil(shape[0] / LABEL_TILE)
    plan = _plan(slide, level, grid, settings.halo_px, mask, downsample)
    counts["windows"], counts["skipped"] = len(plan), sum(not tissue for _, _, tissue in plan)

    read: deque[np.ndarray] = deque()

    def images() -> Iterator[np.ndarray]:
        for _, window, tissue in plan:
            if tissue:
                read.append(slide.read(level, window[0], window[1], window[2] - window[0], window[3] - window[1]))
                yield read[-1]

    def predicted(windows: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        while True:
            before = time.perf_counter()
            probs = next(windows, None)
            counts["predict_seconds"] += time.perf_counter() - before
            if probs is None:
                return
            yield probs

    # windows are read and predicted in a thread of their own while this one builds and writes the cells
    windows = predicted(predict_tiled_many(images(), predict, tile, overlap, batch_size))
    with closing(prefetched(windows, PREFETCH_WINDOWS)) as probabilities:
        columns = len(grid[0]) if grid else 1
        name = Path(slide.path).name
        for index, (core, window, tissue) in enumerate(plan):
            if tissue:
                probs, image = next(probabilities), read.popleft()
                counts["tiles"] += len(tile_boxes(probs.shape[:2], tile, overlap))
                pending += _keep(cells_of(probs), image, core, window, shape, counts, measure, name, rows_csv,
                                 geojson)
            if (index + 1) % columns == 0:  # a row of windows done: rows above its core end less the halo are final
                final = shape[0] if index + 1 == len(plan) else core[2] - settings.halo_px
                while emitted < tile_rows and min((emitted + 1) * LABEL_TILE, shape[0]) <= final:
                    yield from _emit(pending, emitted, shape)
                    emitted += 1
                    pending = [c for c in pending if c.box[2] > emitted * LABEL_TILE]
        while emitted < tile_rows:
            yield from _emit(pending, emitted, shape)
            emitted += 1


def _keep(cells: list[Cell], image: np.ndarray, core: Box, window: Box, shape: tuple[int, int], counts: dict,
          measure, name: str, rows_csv: _CsvStream, geojson: CellsGeoJSONWriter) -> list[Cell]:
    """The window's cells that belong to its core, numbered on through the slide and placed in slide
    coordinates; their rows and features written."""
    kept = [c for c in cells if owned(c, core, window)]
    counts["cut"] += sum(touches_edge(c, window, shape) for c in kept)
    rows = measure(kept, image) if kept else []
    placed = [c.shifted(window[0], window[1], new_id=counts["cells"] + k) for k, c in enumerate(kept, 1)]
    counts["cells"] += len(placed)
    ids = {c.id: p.id for c, p in zip(kept, placed)}
    rows = [{**r, "file": name, "cell": ids[r["cell"]], "centroid_x": r["centroid_x"] + window[1],
             "centroid_y": r["centroid_y"] + window[0]} for r in rows]
    rows_csv.add(rows)
    geojson.add(placed, {r["cell"]: r for r in rows})
    return placed


def _emit(cells: list[Cell], row: int, shape: tuple[int, int]) -> Iterator[np.ndarray]:
    """The label tiles of one row of them, each painted alone (memory holds one tile, not the row)."""
    top, bottom = row * LABEL_TILE, min((row + 1) * LABEL_TILE, shape[0])
    inside = [c for c in cells if c.box[0] < bottom and c.box[2] > top]
    order = sorted(range(len(inside)), key=lambda k: inside[k].box[1])  # by left edge
    starts = np.array([inside[k].box[1] for k in order], int)
    reach = np.maximum.accumulate(np.array([inside[k].box[3] for k in order], int)) if order else starts
    for left in range(0, shape[1], LABEL_TILE):
        right = min(left + LABEL_TILE, shape[1])
        first, stop = int(np.searchsorted(reach, left, side="right")), int(np.searchsorted(starts, right))
        near = sorted(k for k in order[first:stop] if inside[k].box[3] > left)  # painted in the cells' order
        yield label_tile([inside[k] for k in near], (top, left, bottom, right))


def is_slide(path: str | os.PathLike, min_pixels: int) -> bool:
    """Whether an input is streamed as a slide: a TIFF with several levels, or with at least min_pixels."""
    if Path(path).suffix.lower() not in (".tif", ".tiff", ".svs", ".btf"):
        return False
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape = series.shape
            height, width = (shape[-3], shape[-2]) if series.axes.endswith("S") else (shape[-2], shape[-1])
            return len(series.levels) > 1 or height * width >= min_pixels
    except Exception:  # noqa: BLE001 - an unreadable file is read (and reported) by the usual path
        return False

