"""Read whole-slide images lazily: any region of any pyramid level of a (Big/OME/pyramidal) TIFF, tile by tile.

TIFFs are opened with tifffile (series 0, its levels given as SubIFDs or as further pages) and read
through zarr, which decodes only the tiles or strips a region touches; uncompressed contiguous levels
are memory-mapped. PNG, JPEG and BMP files, which are small, are read whole. Regions reaching outside a
level are padded: `read` with white (the colour of an empty slide), `read_raw` with `fill` (0 for labels).
"""

import logging
import math
import os
import zlib
from pathlib import Path
from xml.etree import ElementTree

import cv2
import numpy as np
import tifffile
import zarr

from flexunet.data.io import read_image
from flexunet.errors import DataError

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
OTHER_MAGIC = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"BM": "a BMP image"}
PLAIN_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
MAX_CHUNK_BYTES = 1 << 30
SMALL_LEVEL_PIXELS = 2048 * 2048
MAX_PIXEL_SIZE_UM = 100.0
PADDING = 255
THUMBNAIL_BAND_BYTES = 32 << 20
DECODE_ERRORS = (zlib.error, ValueError, RuntimeError, OSError, EOFError)
UNIT_TO_UM = {"µm": 1.0, "um": 1.0, "micron": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6, "Å": 1e-4}


class _ErrorLog(logging.Handler):
    """Keeps the messages of the error records logged to it."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _what_is(head: bytes) -> str:
    for magic, name in OTHER_MAGIC.items():
        if head.startswith(magic):
            return name
    if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return f"text starting {head[:16].decode('ascii')!r}"
    return f"bytes {head[:8].hex(' ')}"


class Slide:
    """An open slide: `levels` (height, width) per level, level 0 the full resolution; regions by `read`.

    Use as a context manager or call `close()`. Channel data are normalised to (h, w, channels): YX, YXS,
    CYX and SYX series are accepted (C or S is the channel axis).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tif: tifffile.TiffFile | None = None
        self._arrays: list = []
        self._channel_first = False
        self._scale: float | None = None
        self.pixel_size_um: float | None = None
        head = self._head()
        if head[:4] in TIFF_MAGIC:
            self._open_tiff()
        elif path.suffix.lower() in PLAIN_SUFFIXES:
            image = read_image(path)
            self._arrays, self._axes, self._roles = [image], "YXS", ["Y", "X", "S"]
            self.dtype, self.channels = image.dtype, 3
        else:
            raise DataError(f"slide {path}: expected a TIFF file, found {_what_is(head)}")
        self.levels = [tuple(int(v) for v in self._yx(a.shape)) for a in self._arrays]
        h0, w0 = self.levels[0]
        self.downsamples = [(h0 / h + w0 / w) / 2 for h, w in self.levels]

    def _head(self) -> bytes:
        if not self.path.exists():
            raise DataError(f"slide {self.path}: file not found")
        if self.path.is_dir():
            raise DataError(f"slide {self.path}: expected a file, found a folder")
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(64)
        except OSError as exc:
            raise DataError(f"slide {self.path}: cannot be read ({exc.strerror or exc})") from exc
        if not head:
            raise DataError(f"slide {self.path}: cannot be read (empty file, 0 bytes)")
        return head

    def _open_tiff(self) -> None:
        """Parse the TIFF; what tifffile logs as an error while doing so (it skips an unreadable IFD or tag,
        e.g. one past the end of a truncated file, and goes on) is a damaged file too."""
        path = self.path
        errors = _ErrorLog()
        tifffile_log = logging.getLogger("tifffile")
        tifffile_log.addHandler(errors)
        try:
            self._tif = tifffile.TiffFile(path)
            series = self._tif.series[0]
            levels = list(series.levels)
        except Exception as exc:  # tifffile raises many kinds on a damaged file
            self.close()
            raise DataError(f"slide {path}: cannot be read as a TIFF ({_reason(exc)}); the file may be "
                            "truncated or damaged") from exc
        finally:
            tifffile_log.removeHandler(errors)
        size = path.stat().st_size
        if errors.messages:
            past_end = self._past_end(self._tif.pages.first, "level 0 plane 0", size)
            self.close()
            raise DataError(f"slide {path}: {past_end}" if past_end else
                            f"slide {path}: cannot be read as a TIFF (tifffile: {errors.messages[0][:200]}); "
                            "the file may be truncated or damaged")
        try:
            self._check_axes(series.axes, series.shape)
            self.dtype = np.dtype(series.dtype)
            for index, level in enumerate(levels):
                self._check_level(index, level, size)
                self._arrays.append(self._level_array(index, level))
            self.pixel_size_um = self._pixel_size(series)
        except Exception:
            self.close()
            raise

    def _check_axes(self, axes: str, shape: tuple) -> None:
        """Accept a 2-D image (YX, YXS, CYX or SYX once axes of length 1 are left out); remember how to index it."""
        kept = "".join(a for a, n in zip(axes, shape) if n > 1 or a in "YX")
        if kept not in ("YX", "YXS", "CYX", "SYX"):
            raise DataError(f"slide {self.path}: expected a 2-D image (axes YX, YXS or CYX), found axes {axes} "
                            f"of shape {tuple(shape)}")
        channel_axis = None if kept == "YX" else (kept[0] if kept[0] in "CS" else "S")
        self._axes = axes
        self._channel_first = kept[0] in "CS"
        self._roles = [a if a in "YX" or a == channel_axis else None for a in axes]
        self.channels = int(shape[axes.index(channel_axis)]) if channel_axis else 1

    def _check_level(self, index: int, level: tifffile.TiffPageSeries, size: int) -> None:
        """Refuse a level whose codec is missing, whose tiles lie past the end of the file, or whose single
        strip is too large to decode for a region."""
        page = level.keyframe
        try:
            tifffile.TIFF.DECOMPRESSORS[page.compression]
            tifffile.TIFF.UNPREDICTORS[page.predictor]
        except KeyError as exc:
            raise DataError(f"slide {self.path}: level {index} is stored with {str(exc).strip(chr(34))}; "
                            "install it (pip install imagecodecs) or convert the slide to zlib") from exc
        for number, one in enumerate(level.pages):
            past_end = None if one is None else self._past_end(one, f"level {index} plane {number}", size)
            if past_end:
                raise DataError(f"slide {self.path}: {past_end}")
        chunk = page.tilelength * page.tilewidth if page.is_tiled else page.rowsperstrip * page.imagewidth
        if level.dataoffset is None and chunk * page.samplesperpixel * page.dtype.itemsize > MAX_CHUNK_BYTES:
            raise DataError(f"slide {self.path}: level {index} is stored in strips of {chunk} pixels, too large "
                            f"to read a region from; expected a tiled TIFF (e.g. re-save it tiled)")

    @staticmethod
    def _past_end(page: tifffile.TiffPage | tifffile.TiffFrame, where: str, size: int) -> str | None:
        """'truncated: ...' when a tile or strip of the page ends past the end of the file, else None."""
        ends = np.asarray(page.dataoffsets, np.int64) + np.asarray(page.databytecounts, np.int64)
        if not ends.size or ends.max() <= size:
            return None
        bad = int(np.argmax(ends > size))
        kind = "tile" if page.keyframe.is_tiled else "strip"
        return f"truncated: {where} {kind} {bad} ends at byte {int(ends[bad])}, past the end of the file ({size} bytes)"

    def _level_array(self, index: int, level: tifffile.TiffPageSeries) -> np.ndarray | zarr.Array:
        """A lazy array of the level: memory-mapped when stored uncompressed in one piece, else zarr over
        its tiles or strips."""
        if level.dataoffset is not None:
            return tifffile.memmap(self.path, series=0, level=index, mode="r").reshape(level.shape)
        return zarr.open(self._tif.aszarr(series=0, level=index), mode="r")

    def _pixel_size(self, series: tifffile.TiffPageSeries) -> float | None:
        tif = self._tif
        if tif.is_ome and tif.ome_metadata:
            found = _ome_pixel_size(tif.ome_metadata)
            if found:
                return found
        page = series.keyframe
        unit = page.tags.get("ResolutionUnit")
        if "XResolution" not in page.tags or unit is None or unit.value not in (2, 3):
            return None
        per_um = page.get_resolution("micrometer")[0]
        size = 1.0 / per_um if per_um > 0 else None
        return size if size is not None and size <= MAX_PIXEL_SIZE_UM else None

    def _yx(self, shape: tuple) -> tuple[int, int]:
        return shape[self._roles.index("Y")], shape[self._roles.index("X")]

    def level_pixel_size(self, level: int) -> float | None:
        """Pixel size (µm) at `level`, or None when the slide does not say."""
        return None if self.pixel_size_um is None else self.pixel_size_um * self.downsamples[level]

    def level_for(self, pixel_size_um: float) -> int:
        """The coarsest level whose pixels are at most 10 % larger than `pixel_size_um` (so a region read
        there can be resized down, never up by more than 10 %); level 0 when the slide has no pixel size
        or even level 0 is coarser."""
        if self.pixel_size_um is None:
            return 0
        fits = [k for k in range(len(self.levels)) if self.level_pixel_size(k) <= pixel_size_um * 1.1]
        return max(fits) if fits else 0

    def _inside(self, level: int, top: int, left: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(y0, x0, y1, x1): the part of the region inside the level, in level coordinates (may be empty)."""
        if not 0 <= level < len(self.levels):
            raise DataError(f"slide {self.path}: level {level} requested, expected 0..{len(self.levels) - 1}")
        if height < 0 or width < 0:
            raise ValueError(f"region: expected a height and width >= 0, got {height} x {width}")
        level_h, level_w = self.levels[level]
        return max(top, 0), max(left, 0), min(top + height, level_h), min(left + width, level_w)

    def read_raw(self, level: int, top: int, left: int, height: int, width: int, fill: float = 0) -> np.ndarray:
        """The region as stored, (height, width, channels) of `dtype`; parts outside the level are `fill`."""
        y0, x0, y1, x1 = self._inside(level, top, left, height, width)
        out = np.full((height, width, self.channels), fill, self.dtype)
        if y1 > y0 and x1 > x0:
            out[y0 - top:y1 - top, x0 - left:x1 - left] = self._region(level, y0, x0, y1, x1)
        return out

    def _index(self, y0: int, x0: int, y1: int, x1: int) -> tuple:
        return tuple(slice(y0, y1) if role == "Y" else slice(x0, x1) if role == "X" else
                     slice(None) if role else 0 for role in self._roles)

    def _region(self, level: int, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
        """Pixels y0..y1, x0..x1 of a level (inside it) as (h, w, channels)."""
        try:
            data = np.asarray(self._arrays[level][self._index(y0, x0, y1, x1)])
        except DECODE_ERRORS as exc:
            raise self._decode_error(level, y0, x0, y1, x1, exc) from exc
        if data.ndim == 2:
            return data[:, :, None]
        return np.moveaxis(data, 0, -1) if self._channel_first else data

    def _decode_error(self, level: int, y0: int, x0: int, y1: int, x1: int, exc: BaseException) -> DataError:
        """A DataError naming the first tile (or strip) of the region that does not decode on its own."""
        array = self._arrays[level]
        if isinstance(array, zarr.Array):
            ch, cw = array.chunks[self._roles.index("Y")], array.chunks[self._roles.index("X")]
            for row in range(y0 // ch, (y1 - 1) // ch + 1):
                for col in range(x0 // cw, (x1 - 1) // cw + 1):
                    try:
                        array[self._index(row * ch, col * cw, row * ch + 1, col * cw + 1)]
                    except DECODE_ERRORS as tile_exc:
                        kind = "tile" if self._tif.series[0].levels[level].keyframe.is_tiled else "strip"
                        return DataError(f"slide {self.path}: level {level} {kind} at row {row}, column {col} "
                                         f"(pixels y {row * ch}..{(row + 1) * ch}, x {col * cw}..{(col + 1) * cw}) "
                                         f"cannot be decoded ({_reason(tile_exc)})")
        return DataError(f"slide {self.path}: level {level} region y {y0}..{y1}, x {x0}..{x1} cannot be "
                         f"decoded ({_reason(exc)})")

    def _scale_top(self) -> float:
        """The value that maps to 255 for data wider than 8 bits: as flexunet.data.io does per image, 65535
        (1.0 for floats) when the coarsest level (if small) holds values above 255 (1.0), else 255; a
        slide without a small level uses the full 16-bit range (1.0)."""
        if self._scale is None:
            floats = np.issubdtype(self.dtype, np.floating)
            h, w = self.levels[-1]
            if h * w <= SMALL_LEVEL_PIXELS:
                peak = float(np.nanmax(self.read_raw(len(self.levels) - 1, 0, 0, h, w), initial=0))
                self._scale = (1.0 if peak <= 1.0 else 255.0) if floats else (65535.0 if peak > 255 else 255.0)
            else:
                self._scale = 1.0 if floats else 65535.0
        return self._scale

    def read(self, level: int, top: int, left: int, height: int, width: int) -> np.ndarray:
        """The region as uint8 RGB (height, width, 3): grey repeated to 3 channels, a 4th (alpha) channel
        and further ones dropped, wider data scaled to 0..255; outside the level it is white (255)."""
        y0, x0, y1, x1 = self._inside(level, top, left, height, width)
        out = np.full((height, width, 3), PADDING, np.uint8)
        if y1 <= y0 or x1 <= x0:
            return out
        data = self._region(level, y0, x0, y1, x1)
        if data.dtype != np.uint8:
            scaled = np.nan_to_num(data.astype(np.float32)) * (255.0 / self._scale_top())
            data = (np.clip(scaled, 0, 255) + 0.5).astype(np.uint8)
        out[y0 - top:y1 - top, x0 - left:x1 - left] = data[:, :, :3] if data.shape[2] >= 3 else data[:, :, :1]
        return out

    def close(self) -> None:
        self._arrays = []
        if self._tif is not None:
            self._tif.close()
            self._tif = None

    def __enter__(self) -> "Slide":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Slide({str(self.path)!r}, levels={self.levels}, channels={self.channels}, dtype={self.dtype})"


def _ome_pixel_size(xml: str) -> float | None:
    """PhysicalSizeX of the first OME Pixels element, in µm."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return None
    for element in root.iter():
        if element.tag.endswith("}Pixels") or element.tag == "Pixels":
            value = element.get("PhysicalSizeX")
            if value is None:
                return None
            unit = UNIT_TO_UM.get(element.get("PhysicalSizeXUnit", "µm"))
            return float(value) * unit if unit and float(value) > 0 else None
    return None


def open_slide(path: str | os.PathLike) -> Slide:
    """Open a slide for lazy reading; a missing, empty, non-TIFF, truncated or undecodable file raises
    DataError naming it."""
    return Slide(Path(path))


def thumbnail(slide: Slide, max_side: int = 1024) -> np.ndarray:
    """The slide as uint8 RGB whose longer side is `max_side` (or the whole level 0 if smaller), made from the
    coarsest level at least that large, read in bands of rows and area-averaged, so memory stays small."""
    fits = [k for k, (h, w) in enumerate(slide.levels) if max(h, w) >= max_side]
    level = max(fits) if fits else 0
    height, width = slide.levels[level]
    scale = min(1.0, max_side / max(height, width))
    out_h, out_w = max(1, round(height * scale)), max(1, round(width * scale))
    out = np.empty((out_h, out_w, 3), np.uint8)
    band = max(1, int(THUMBNAIL_BAND_BYTES / (width * 3 * height / out_h)))
    for row in range(0, out_h, band):
        rows = min(band, out_h - row)
        y0, y1 = round(row * height / out_h), round((row + rows) * height / out_h)
        region = slide.read(level, y0, 0, y1 - y0, width)
        out[row:row + rows] = cv2.resize(region, (out_w, rows), interpolation=cv2.INTER_AREA).reshape(rows, out_w, 3)
    return out


def tissue_mask(thumb: np.ndarray, minimum: int = 12) -> np.ndarray:
    """Bool mask of cells (tissue) on a bright background: a pixel counts when its colourfulness (max - min
    channel) or its darkness below the background (the median grey) exceeds Otsu's threshold, and at least
    `minimum`, so an empty slide gives an empty mask; grown by one pixel to keep cell borders."""
    rgb = thumb.astype(np.int16)
    grey = rgb.mean(axis=2)
    score = np.maximum(rgb.max(axis=2) - rgb.min(axis=2), np.median(grey) - grey)
    score = np.clip(score, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(score, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = score > max(otsu, minimum)
    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def tile_has_tissue(mask: np.ndarray, downsample: float, top: int, left: int, height: int, width: int) -> bool:
    """Whether a level-0 region (top, left, height, width) touches the mask, made at 1/`downsample` scale."""
    y0, x0 = max(int(top // downsample), 0), max(int(left // downsample), 0)
    y1, x1 = math.ceil((top + height) / downsample), math.ceil((left + width) / downsample)
    return bool(mask[y0:y1, x0:x1].any())
