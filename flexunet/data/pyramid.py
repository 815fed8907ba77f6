"""Write tiled pyramidal OME-TIFFs tile by tile, making the lower levels on the way, never holding the image.

Layout: one BigTIFF OME-TIFF whose level 0 pages (one per plane) each carry the lower levels as SubIFDs,
each level half the size of the one above (rounded up), until the image fits in one tile; the layout
QuPath writes and reads (name the file .ome.tif for Bio-Formats). tifffile reads it as one series whose
`levels` are (H, W), (H, W, 3) or, for planes (e.g. cell and nucleus labels as two OME channels),
(planes, H, W); napari opens those levels as a multiscale image. Pixel size goes to the OME
PhysicalSizeX/Y and to the resolution tags (pixels per centimetre) of every level.

Streaming: the caller's level-0 tiles are compressed and written as they come; each tile is also
downsampled into a one-tile-row band of level 1, whose completed rows feed level 2, and so on. Tiles of
the lower levels and of planes after the first are compressed into a temporary spool file beside the
output and copied into the TIFF when their turn comes, so memory holds one row of tiles per level.
"""

import math
import os
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import tifffile

from flexunet.errors import OutputError
from flexunet.fsutil import atomic_save

KINDS = ("labels", "image")
COMPRESSIONS = ("zlib", "none")
ZLIB_LEVEL = 1  # on stained fields about 8x faster than the default 6, files under 10 % larger


def pyramid_shapes(shape: tuple[int, int], tile: int = 256, levels: int | None = None) -> list[tuple[int, int]]:
    """(height, width) of each level: level 0 is `shape`, each next one half of it rounded up; `levels` levels,
    or (None) until the level fits in one tile."""
    shapes = [(int(shape[0]), int(shape[1]))]
    while (len(shapes) < levels) if levels is not None else max(shapes[-1]) > tile:
        h, w = shapes[-1]
        if h == 1 and w == 1:
            raise ValueError(f"levels={levels} is more than a {shape[0]}x{shape[1]} image can halve into")
        shapes.append(((h + 1) // 2, (w + 1) // 2))
    return shapes


def _downsample(data: np.ndarray, kind: str) -> np.ndarray:
    """Half of a (planes, h, w, channels) block: every 2nd pixel for labels; for images the 2x2 mean,
    rounded half up, an odd last row/column counted twice (edge replicated)."""
    if kind == "labels":
        return data[:, ::2, ::2]
    _, h, w, _ = data.shape
    if h % 2 or w % 2:
        data = np.pad(data, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    quarters = (data[:, 0::2, 0::2], data[:, 1::2, 0::2], data[:, 0::2, 1::2], data[:, 1::2, 1::2])
    if np.issubdtype(data.dtype, np.floating):
        return (sum(q.astype(np.float64) for q in quarters) / 4).astype(data.dtype)
    total = quarters[0].astype(np.uint16 if data.dtype.itemsize == 1 else np.int64)
    for quarter in quarters[1:]:
        total += quarter
    total += 2
    total //= 4
    return total.astype(data.dtype)


class _Spool:
    """Compressed tiles kept in a temporary file beside the output until the TIFF writer wants them (all
    tiles are added before the first is read back)."""

    def __init__(self, folder: Path, name: str) -> None:
        fd, self.path = tempfile.mkstemp(prefix=f".{name}.", suffix=".spool", dir=folder)
        self.handle: BinaryIO = os.fdopen(fd, "w+b")
        self.index: dict[tuple[int, int], list[tuple[int, int]]] = {}

    def add(self, level: int, plane: int, data: bytes) -> None:
        self.index.setdefault((level, plane), []).append((self.handle.tell(), len(data)))
        self.handle.write(data)

    def read(self, level: int, plane: int) -> Iterator[bytes]:
        self.handle.flush()
        for offset, length in self.index.get((level, plane), []):
            self.handle.seek(offset)
            yield self.handle.read(length)

    def close(self) -> None:
        self.handle.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


class _Cascade:
    """Level-0 tiles in; every level's tiles compressed out, level k+1 built from level k's finished rows."""

    def __init__(self, shapes: list[tuple[int, int]], planes: int, channels: int, dtype: np.dtype,
                 tile: int, kind: str, compression: str, spool: _Spool) -> None:
        self.shapes, self.tile, self.kind, self.spool = shapes, tile, kind, spool
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self.compression = compression
        self.bands = [np.zeros((planes, tile, w, channels), self.dtype) for _, w in shapes[1:]]
        self.grid = [(math.ceil(h / tile), math.ceil(w / tile)) for h, w in shapes]

    def encode(self, data: np.ndarray) -> bytes:
        """One tile's bytes as TIFF stores them: zero-padded to the full tile, little-endian, compressed."""
        h, w = data.shape[:2]
        if (h, w) != (self.tile, self.tile):
            data = np.pad(data, ((0, self.tile - h), (0, self.tile - w), (0, 0)))
        raw = np.ascontiguousarray(data, self.dtype).tobytes()
        return zlib.compress(raw, ZLIB_LEVEL) if self.compression == "zlib" else raw

    def add(self, level: int, row: int, col: int, data: np.ndarray, first_plane: bool = False) -> bytes | None:
        """Take tile (row, col) of `level` as (planes, h, w, channels); spool its compressed planes (all but
        the first when `first_plane`, whose bytes are returned) and pass its half to the next level."""
        out = None
        for plane in range(data.shape[0]):
            encoded = self.encode(data[plane])
            if first_plane and plane == 0:
                out = encoded
            else:
                self.spool.add(level, plane, encoded)
        if level + 1 < len(self.shapes):
            half = self.tile // 2
            small = _downsample(data, self.kind)
            band = self.bands[level]
            top, left = (row % 2) * half, col * half
            band[:, top:top + small.shape[1], left:left + small.shape[2]] = small
            rows, cols = self.grid[level]
            if col == cols - 1 and (row % 2 == 1 or row == rows - 1):
                self._flush(level + 1, row // 2)
        return out

    def _flush(self, level: int, row: int) -> None:
        height, width = self.shapes[level]
        band = self.bands[level - 1][:, :min(self.tile, height - row * self.tile)]
        for col in range(self.grid[level][1]):
            self.add(level, row, col, band[:, :, col * self.tile:min((col + 1) * self.tile, width)])


def _as_tile(item: np.ndarray, expected: tuple[int, int], planes: int, channels: int, where: str) -> np.ndarray:
    """A caller's tile as (planes, h, w, channels), cropped to `expected` (a full tile at an edge is allowed)."""
    item = given = np.asarray(item)
    if planes == 1:
        item = item[None]
    if channels == 1 and item.ndim == 3:
        item = item[..., None]
    h, w = expected
    if (item.ndim != 4 or item.shape[0] != planes or item.shape[3] != channels
            or item.shape[1] < h or item.shape[2] < w):
        want = ((planes,) if planes > 1 else ()) + (h, w) + ((channels,) if channels > 1 else ())
        raise ValueError(f"{where}: expected a tile of shape {want}, got {given.shape}")
    return item[:, :h, :w]


def _level0(tiles: Iterable[np.ndarray], cascade: _Cascade, planes: int, channels: int, dtype: np.dtype,
            spool: _Spool) -> Iterator[bytes]:
    """Compressed level-0 tiles in TIFF order: the first plane as the caller's tiles come, then the others."""
    (height, width), tile = cascade.shapes[0], cascade.tile
    rows, cols = cascade.grid[0]
    source = iter(tiles)
    for row in range(rows):
        for col in range(cols):
            where = f"tile (row {row}, column {col})"
            try:
                item = next(source)
            except StopIteration:
                raise ValueError(f"tiles: expected {rows * cols} tiles ({rows} rows x {cols} columns), "
                                 f"got {row * cols + col}") from None
            if np.asarray(item).dtype != dtype:
                raise ValueError(f"{where}: expected dtype {dtype}, got {np.asarray(item).dtype}")
            expected = (min(tile, height - row * tile), min(tile, width - col * tile))
            yield cascade.add(0, row, col, _as_tile(item, expected, planes, channels, where), first_plane=True)
    if next(source, None) is not None:
        raise ValueError(f"tiles: expected {rows * cols} tiles ({rows} rows x {cols} columns), got more")
    for plane in range(1, planes):
        yield from spool.read(0, plane)


def _check(shape: tuple[int, int], dtype: np.dtype, tile: int, kind: str, channels: int, planes: int,
           compression: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression: expected one of {COMPRESSIONS}, got {compression!r}")
    if tile < 16 or tile % 16:
        raise ValueError(f"tile: expected a multiple of 16 (TIFF tiles), got {tile}")
    if min(shape) < 1:
        raise ValueError(f"shape: expected a positive (height, width), got {shape}")
    if kind == "labels" and (channels != 1 or not np.issubdtype(dtype, np.integer)):
        raise ValueError(f"labels: expected 1 channel of integers, got {channels} channel(s) of {dtype}")
    if kind == "image" and channels not in (1, 3):
        raise ValueError(f"image: expected 1 (grey) or 3 (RGB) channels, got {channels}")
    if planes > 1 and channels != 1:
        raise ValueError(f"planes={planes} needs channels=1, got channels={channels}")


def write_pyramid(path: str | os.PathLike, shape: tuple[int, int], dtype: np.dtype | type,
                  tiles: Iterable[np.ndarray], tile: int = 256, levels: int | None = None,
                  kind: str = "labels", channels: int = 1, planes: int = 1, compression: str = "zlib",
                  pixel_size_um: float | None = None, description: str | None = None,
                  plane_names: Sequence[str] | None = None) -> Path:
    """Write a (height, width) = `shape` image given as `tiles` into a tiled pyramidal OME-TIFF at `path`.

    `tiles` yields level 0 in row-major tile order, each (tile, tile), (tile, tile, channels) or, with
    `planes` > 1 (e.g. 2 for cell and nucleus labels), (planes, tile, tile); tiles at the right and bottom
    edges may be cut to the image or full size (the part outside is dropped). `levels` counts level 0;
    None halves until a level fits in one tile. Lower levels take every 2nd pixel ("labels") or the 2x2
    mean ("image", rounded half up). `compression` "zlib" (deflate, no imagecodecs needed) or "none";
    `description` goes to the OME Description, `plane_names` to the OME channel names. Written under a
    temporary name and renamed when complete; a wrong tile raises ValueError, a file-system failure
    OutputError. Returns the path.
    """
    path, dtype = Path(path), np.dtype(dtype)
    _check(shape, dtype, tile, kind, channels, planes, compression)
    shapes = pyramid_shapes(shape, tile, levels)
    axes = ("CYX" if planes > 1 else "YX") + ("S" if channels > 1 else "")
    metadata: dict = {"axes": axes, "Name": path.name}
    if pixel_size_um is not None:
        metadata.update(PhysicalSizeX=pixel_size_um, PhysicalSizeY=pixel_size_um,
                        PhysicalSizeXUnit="µm", PhysicalSizeYUnit="µm")
    if description:
        metadata["Description"] = description
    if plane_names:
        metadata["Channel"] = {"Name": list(plane_names)}
    options = {"dtype": dtype, "tile": (tile, tile), "photometric": "rgb" if channels == 3 else "minisblack",
               "compression": "zlib" if compression == "zlib" else None}

    def level_shape(h: int, w: int) -> tuple[int, ...]:
        return ((planes,) if planes > 1 else ()) + (h, w) + ((channels,) if channels > 1 else ())

    def resolution(level: int) -> dict:
        if pixel_size_um is None:
            return {}
        per_cm = 1e4 / (pixel_size_um * 2 ** level)
        return {"resolution": (per_cm, per_cm), "resolutionunit": "CENTIMETER"}

    def save(tmp: str) -> None:
        spool = _Spool(path.parent, path.name)
        try:
            cascade = _Cascade(shapes, planes, channels, dtype, tile, kind, compression, spool)
            with tifffile.TiffWriter(tmp, bigtiff=True, byteorder="<", ome=True) as tif:
                tif.write(_level0(tiles, cascade, planes, channels, dtype, spool), shape=level_shape(*shapes[0]),
                          subifds=len(shapes) - 1, metadata=metadata, **resolution(0), **options)
                for level, (h, w) in enumerate(shapes[1:], start=1):
                    data = (chunk for plane in range(planes) for chunk in spool.read(level, plane))
                    tif.write(data, shape=level_shape(h, w), subfiletype=1, metadata=None,
                              **resolution(level), **options)
        finally:
            spool.close()

    try:
        atomic_save(path, save)
    except OSError as exc:
        raise OutputError(f"writing {path}: {exc.strerror or exc}") from exc
    return path


def array_tiles(array: np.ndarray, tile: int = 256, planes: int = 1) -> Iterator[np.ndarray]:
    """Tiles of an in-memory (H, W[, C]) array, or with `planes` > 1 a (planes, H, W) one, in the order
    write_pyramid takes them (for tests and images that fit in memory)."""
    height, width = array.shape[1:3] if planes > 1 else array.shape[:2]
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            window = (slice(top, top + tile), slice(left, left + tile))
            yield array[(slice(None),) + window] if planes > 1 else array[window]
