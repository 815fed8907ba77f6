"""Read images and masks in one colour order (RGB) whatever their format; write them atomically."""

import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from flexunet.errors import DataError
from flexunet.fsutil import atomic_write_bytes

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
MAX_IMAGE_PIXELS = 20000 * 20000
GEOJSON_SUFFIXES = (".geojson", ".json")


def is_image_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: str | os.PathLike, what: str, also: tuple[str, ...] = ()) -> list[Path]:
    """Image files in `folder` (any case of .jpg .png .bmp .tif, and the suffixes in `also`), sorted; other
    files are ignored."""
    folder = Path(folder)
    if not folder.exists():
        raise DataError(f"{what}: folder {folder} not found")
    if not folder.is_dir():
        raise DataError(f"{what}: expected a folder, found a file at {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and (is_image_file(p) or p.suffix.lower() in also))
    if not files:
        listed = " ".join(dict.fromkeys([".jpg", ".png", ".bmp", ".tif", *also]))
        raise DataError(f"{what}: no images ({listed}) in {folder}")
    return files


def _open(path: Path) -> Image.Image:
    try:
        if path.stat().st_size == 0:
            raise DataError(f"image {path}: cannot be read (empty file, 0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            img.load()
        return img
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"image {path}: cannot be read ({reason})") from exc


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale 16-bit, 32-bit int and float grey data to 0..255."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        top = 1.0 if np.nanmax(arr) <= 1.0 else 255.0
        return np.clip(np.nan_to_num(arr) * (255.0 / top), 0, 255).round().astype(np.uint8)
    top = 65535 if arr.max(initial=0) > 255 else 255
    return np.clip(arr.astype(np.float64) * (255.0 / top), 0, 255).round().astype(np.uint8)


def _grey(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _to_uint8(np.asarray(img))
    if img.mode == "1":
        return np.asarray(img, dtype=np.uint8) * 255
    return np.asarray(img.convert("L"))


def read_image(path: str | os.PathLike, channels: int = 3) -> np.ndarray:
    """An image as uint8 (H, W, channels), RGB for 3 channels.

    Grey, palette, RGBA (alpha dropped), CMYK and 16-bit images are converted; an unreadable,
    empty or truncated file raises DataError naming it.
    """
    img = _open(Path(path))
    if channels == 1:
        return _grey(img)[:, :, None]
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F", "1"):
        grey = _grey(img)
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
    else:
        rgb = np.asarray(img.convert("RGB"))
    if channels == 3:
        return rgb
    if channels == 4:
        alpha = np.asarray(img.convert("RGBA"))[:, :, 3:]
        return np.concatenate([rgb, alpha], axis=2)
    raise DataError(f"image {path}: {channels} channels are not supported; expected 1, 3 or 4")


def image_shape(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) of an image file, from its header."""
    width, height = _open_header(Path(path)).size
    return height, width


def _open_header(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"image {path}: cannot be read ({reason})") from exc


def read_grey(path: str | os.PathLike) -> np.ndarray:
    """A single-channel file's values as uint8 (H, W) (colour files by luminance)."""
    return _grey(_open(Path(path)))


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A mask as uint8 (H, W): grey masks as they are; a colour (or palette) mask by its brightest channel,
    so a nucleus painted in any class colour, e.g. (255, 0, 0) or (0, 0, 255), reads as 255; a GeoJSON of
    cells as its nuclei (255) on an image of `shape`."""
    if Path(path).suffix.lower() in GEOJSON_SUFFIXES:
        from flexunet.data.geojson import geojson_labels

        return np.where(geojson_labels(path, shape) == 2, 255, 0).astype(np.uint8)
    img = _open(Path(path))
    if img.mode in ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return np.asarray(img.convert("RGB")).max(axis=2)
    return _grey(img)


def encode_image(array: np.ndarray, suffix: str) -> bytes:
    """PNG/JPEG/BMP/TIFF bytes (OpenCV) of a uint8 grey (H, W) or RGB (H, W, 3) array."""
    suffix = suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise ValueError(f"expected one of {', '.join(IMAGE_EXTENSIONS)}, got {suffix!r}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(array), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {array.shape} image as {suffix}")
    return encoded.tobytes()


def write_image(path: str | os.PathLike, array: np.ndarray, durable: bool = False) -> None:
    """Write a uint8 image atomically (temp file + rename), in the format its suffix names."""
    atomic_write_bytes(path, encode_image(array, Path(path).suffix), durable)
