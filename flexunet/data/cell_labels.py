"""Cell instance label images: the toolkit's 2-plane TIFF (cells, nuclei) and users' label images.

The toolkit writes one zlib-compressed TIFF of 2 planes, axes "CYX": plane 0 holds each pixel's cell id,
plane 1 the same id on the cell's nucleus pixels (0 elsewhere); uint16, or uint32 when an id exceeds 65535.
napari opens it as a (2, H, W) stack (its "Convert to Labels" makes it a labels layer); the JSON
ImageDescription tifffile writes carries {"flexunet": "cell-labels"}, by which read_cell_labels knows it.
A label image shows one cell per pixel:
where cells overlap, the pixel goes to the cell whose nucleus is nearest (the earlier cell on a tie), so
a cell's nucleus pixels stay its own unless another nucleus covers them too, and a cell wholly beneath
others vanishes; overlaps are only complete in the GeoJSON (flexunet.data.geojson).

read_cell_labels also reads a user's label image: PNG (8- or 16-bit grey) or TIFF, (H, W) with one id per
cell, or (L, H, W) layers of ids where cells overlap (a cell is its id over all layers), each cell's
nucleus being the given nucleus mask inside it.
"""

import io
import os
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError
from scipy import ndimage

from flexunet.data.instances import Cell, cells_from_labels
from flexunet.errors import DataError
from flexunet.fsutil import atomic_write_bytes

FORMAT_KEY = "flexunet"
FORMAT_NAME = "cell-labels"
PLANES = ("cells", "nuclei")
GREY_MODES = ("L", "P", "I", "I;16", "I;16L", "I;16B")


def _nucleus_distance(cell: Cell) -> np.ndarray:
    """Each pixel of the cell's box: its distance to the cell's nucleus (inf without a nucleus)."""
    if not cell.nucleus.any():
        return np.full(cell.cell.shape, np.inf, np.float32)
    return ndimage.distance_transform_edt(~cell.nucleus).astype(np.float32)


def _clip(cell: Cell, shape: tuple[int, int]) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """(image window, box window) of the part of the cell's box inside the image."""
    top, left, bottom, right = cell.box
    rows = slice(max(top, 0), min(bottom, shape[0]))
    cols = slice(max(left, 0), min(right, shape[1]))
    crop = (slice(rows.start - top, max(rows.stop, rows.start) - top),
            slice(cols.start - left, max(cols.stop, cols.start) - left))
    return (rows, cols), crop


def paint_nearest(cells: list[Cell], shape: tuple[int, int]) -> np.ndarray:
    """(2, H, W) uint32 planes of cell ids and nucleus ids; an overlapped pixel goes to the cell whose
    nucleus is nearest (the earlier on a tie; a cell without a nucleus only takes pixels no other has)."""
    labels = np.zeros(shape, np.uint32)
    on_nucleus = np.zeros(shape, bool)
    best = np.full(shape, np.inf, np.float32)
    for c in cells:
        window, crop = _clip(c, shape)
        distance = _nucleus_distance(c)[crop]
        wins = c.cell[crop] & ((distance < best[window]) | (labels[window] == 0))
        labels[window][wins] = c.id
        best[window][wins] = distance[wins]
        on_nucleus[window][wins] = c.nucleus[crop][wins]
    return np.stack([labels, labels * on_nucleus])


def write_cell_labels(path: str | os.PathLike, cells: list[Cell], shape: tuple[int, int]) -> None:
    """Write the cells as the toolkit's 2-plane label TIFF (cells, nuclei) of an image of `shape` (H, W)."""
    cells = list(cells)
    top_id = max((c.id for c in cells), default=0)
    if top_id > np.iinfo(np.uint32).max or min((c.id for c in cells), default=1) < 1:
        raise ValueError(f"cell ids must lie in 1..{np.iinfo(np.uint32).max}, found up to {top_id}")
    dtype = np.uint16 if top_id <= np.iinfo(np.uint16).max else np.uint32
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, paint_nearest(cells, shape).astype(dtype), photometric="minisblack",
                     compression="zlib", metadata={"axes": "CYX", FORMAT_KEY: FORMAT_NAME, "planes": list(PLANES)})
    atomic_write_bytes(path, buffer.getvalue())


def _where(path: str | os.PathLike) -> str:
    return f"cell labels {path}"


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_tiff(path: Path) -> tuple[np.ndarray, bool]:
    with tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise DataError(f"{_where(path)}: cannot be read (no image in the TIFF)")
        metadata = tif.shaped_metadata or ({},)
        return tif.asarray(), metadata[0].get(FORMAT_KEY) == FORMAT_NAME


def _read_other(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        if image.mode not in GREY_MODES:
            raise DataError(f"{_where(path)}: expected a grey label image (one id per pixel), found mode {image.mode}")
        return np.asarray(image)


def _read(path: str | os.PathLike) -> tuple[np.ndarray, bool]:
    """The image's array and whether it is the toolkit's own 2-plane file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{_where(path)}: file not found")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            return _read_tiff(path)
        return _read_other(path), False
    except DataError:
        raise
    except (tifffile.TiffFileError, UnidentifiedImageError, OSError, ValueError, KeyError, EOFError) as exc:
        raise DataError(f"{_where(path)}: cannot be read ({_reason(exc)})") from exc


def _check_ids(path: str | os.PathLike, array: np.ndarray) -> None:
    if array.dtype.kind not in "ui":
        raise DataError(f"{_where(path)}: expected whole-number cell ids, found {array.dtype} values")
    if array.dtype.kind == "i" and array.size and array.min() < 0:
        raise DataError(f"{_where(path)}: expected cell ids of 0 or more, found {array.min()}")


def _check_shape(path: str | os.PathLike, array: np.ndarray, shape: tuple[int, int] | None, own: bool) -> None:
    expected = "(2, H, W)" if own else "(H, W) or (L, H, W)"
    plane_ok = array.ndim == 3 and array.shape[0] == 2 if own else array.ndim in (2, 3)
    if not plane_ok or (shape is not None and tuple(array.shape[-2:]) != tuple(shape)):
        size = f" with (H, W) = {tuple(shape)}" if shape is not None else ""
        raise DataError(f"{_where(path)}: expected shape {expected}{size}, found {array.shape}")


def _own_cells(path: str | os.PathLike, planes: np.ndarray) -> list[Cell]:
    cells_plane, nuclei_plane = planes
    stray = np.setdiff1d(np.unique(nuclei_plane[nuclei_plane > 0]), np.unique(cells_plane))
    if stray.size:
        raise DataError(f"{_where(path)}: nucleus {stray[0]} has no cell (its id is in the nuclei plane, "
                        "not in the cells plane)")
    return cells_from_labels(cells_plane, nucleus_labels=nuclei_plane)


def _user_cells(path: str | os.PathLike, labels: np.ndarray, nucleus: np.ndarray | None,
                require_nucleus: bool) -> list[Cell]:
    if nucleus is None and require_nucleus:
        raise DataError(f"{_where(path)}: a label image of one id per cell needs the nucleus mask to find each "
                        "cell's nucleus")
    if nucleus is not None and nucleus.shape != labels.shape[-2:]:
        raise DataError(f"{_where(path)}: the nucleus mask is {nucleus.shape}, expected {labels.shape[-2:]} "
                        "like the label image")
    return cells_from_labels(labels, nucleus=None if nucleus is None else nucleus.astype(bool))


def read_cell_labels(path: str | os.PathLike, shape: tuple[int, int] | None = None, nucleus: np.ndarray | None = None,
                     *, require_nucleus: bool = True) -> list[Cell]:
    """The cells (in id order) of the toolkit's 2-plane label TIFF, or of a user's label image (H, W) or
    (L, H, W) with `nucleus` (bool (H, W), e.g. the nucleus class of a 3-class label mask) giving the
    nuclei; `shape` (H, W), when given, is checked; `require_nucleus` False lets a cell come without one."""
    array, own = _read(path)
    _check_ids(path, array)
    _check_shape(path, array, shape, own)
    cells = _own_cells(path, array) if own else _user_cells(path, array, nucleus, require_nucleus)
    for c in cells:
        if require_nucleus and not c.nucleus.any():
            where = "its id in the nuclei plane" if own else "part of the nucleus mask inside it"
            raise DataError(f"{_where(path)}: cell {c.id} has no nucleus pixel (expected {where})")
    return cells
