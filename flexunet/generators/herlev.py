"""Read the raw Herlev "smear2005" folders: pair NAME.BMP with NAME-d.bmp and extract the nucleus."""

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flexunet.data.io import read_image
from flexunet.errors import DataError

CLASSES = (
    "carcinoma_in_situ",
    "light_dysplastic",
    "moderate_dysplastic",
    "normal_columnar",
    "normal_intermediate",
    "normal_superficiel",
    "severe_dysplastic",
)
NUCLEUS = (0, 0, 255)
CYTOPLASM = (0, 0, 128)
BACKGROUND = (255, 0, 0)
GREY = (128, 128, 128)
MASK_SUFFIX = "-d.bmp"


@dataclass(frozen=True)
class RawCell:
    """One raw cell: its class folder, file stem and the image and segmentation paths."""

    class_name: str
    stem: str
    image: Path
    mask: Path


@dataclass
class ScanReport:
    """What find_cells passed over: images without a -d.bmp, masks without an image, other files."""

    missing_masks: list[Path] = field(default_factory=list)
    orphan_masks: list[Path] = field(default_factory=list)
    stray_files: list[Path] = field(default_factory=list)
    unknown_folders: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.missing_masks) + len(self.orphan_masks)

    def notes(self) -> list[str]:
        """One warning line per skipped file, one note per ignored folder and a count of stray files."""
        lines = [f"warning: {p}: expected its segmentation {p.stem}{MASK_SUFFIX} beside it, "
                 "not found; skipped" for p in self.missing_masks]
        lines += [f"warning: {p}: expected its image {p.name[:-len(MASK_SUFFIX)]}.BMP beside it, "
                  "not found; skipped" for p in self.orphan_masks]
        lines += [f"note: folder {name!r} is not a Herlev class; ignored" for name in self.unknown_folders]
        if self.stray_files:
            lines.append(f"note: {len(self.stray_files)} other file(s) ignored, e.g. {self.stray_files[0]}")
        return lines


def _class_folders(base: Path, classes, report: ScanReport) -> list[str]:
    if not base.is_dir():
        found = "a file" if base.exists() else "nothing"
        raise DataError(f"base_dir {base}: expected the folder of Herlev class folders, found {found}")
    present = {p.name: p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if classes is not None:
        wanted = list(classes)
        unknown = [c for c in wanted if c not in CLASSES]
        if unknown:
            raise DataError(f"classes: expected names among {', '.join(CLASSES)}, got {unknown[0]!r}")
        absent = [c for c in wanted if c not in present]
        if absent:
            raise DataError(f"base_dir {base}: expected a class folder {absent[0]!r}, not found")
    else:
        wanted = [c for c in CLASSES if c in present]
        if not wanted:
            raise DataError(f"base_dir {base}: expected class folders such as {CLASSES[-1]}, found none")
    report.unknown_folders.extend(sorted(n for n in present if n not in CLASSES))
    return wanted


def _scan_class(folder: Path, class_name: str, report: ScanReport) -> list[RawCell]:
    images: dict[str, Path] = {}
    masks: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        name = path.name.lower()
        if not path.is_file():
            continue
        if name.endswith(MASK_SUFFIX):
            masks[name[:-len(MASK_SUFFIX)]] = path
        elif name.endswith(".bmp"):
            images[name[:-4]] = path
        else:
            report.stray_files.append(path)
    report.missing_masks.extend(images[k] for k in sorted(images.keys() - masks.keys()))
    report.orphan_masks.extend(masks[k] for k in sorted(masks.keys() - images.keys()))
    return [RawCell(class_name, images[k].stem, images[k], masks[k]) for k in sorted(images.keys() & masks.keys())]


def find_cells(base_dir: str | os.PathLike, classes: Sequence[str] | None = None) -> tuple[list[RawCell], ScanReport]:
    """Every image/segmentation pair under base_dir/<class>/, in class then name order.

    `classes` restricts the walk to these class folders (each must exist); by default every
    Herlev class folder present is used. Extensions match in any case; other files are ignored.
    """
    base = Path(base_dir)
    report = ScanReport()
    cells: list[RawCell] = []
    for class_name in _class_folders(base, classes, report):
        cells.extend(_scan_class(base / class_name, class_name, report))
    return cells, report


def nucleus_mask(segmentation_rgb: np.ndarray) -> np.ndarray:
    """Bool (H, W): the nucleus pixels of an RGB segmentation (blue == 255; only the nucleus has it)."""
    return segmentation_rgb[:, :, 2] == 255


def cell_labels(segmentation_rgb: np.ndarray) -> np.ndarray:
    """Class indices (H, W) uint8 of an RGB segmentation: 2 nucleus (blue 255), 1 cytoplasm (navy
    (0, 0, 128)), 0 background (red, and the grey some files hold)."""
    labels = np.zeros(segmentation_rgb.shape[:2], np.uint8)
    labels[(segmentation_rgb[:, :, 2] == 128) & (segmentation_rgb[:, :, 0] == 0)] = 1
    labels[nucleus_mask(segmentation_rgb)] = 2
    return labels


def read_cell_labels(cell: RawCell) -> tuple[np.ndarray, np.ndarray]:
    """The cell image as RGB uint8 (H, W, 3) and its class labels (cell_labels)."""
    image, segmentation = _read_pair(cell)
    return image, cell_labels(segmentation)


def _read_pair(cell: RawCell) -> tuple[np.ndarray, np.ndarray]:
    image = read_image(cell.image, 3)
    segmentation = read_image(cell.mask, 3)
    if segmentation.shape[:2] != image.shape[:2]:
        raise DataError(
            f"{cell.mask}: expected the size of {cell.image.name} ({image.shape[1]}x{image.shape[0]}), "
            f"got {segmentation.shape[1]}x{segmentation.shape[0]}"
        )
    return image, segmentation


def read_cell(cell: RawCell) -> tuple[np.ndarray, np.ndarray]:
    """The cell image as RGB uint8 (H, W, 3) and its nucleus as bool (H, W).

    Palette segmentations are converted to RGB before colours are read; an unreadable file or
    a size mismatch raises DataError naming the file.
    """
    image, segmentation = _read_pair(cell)
    return image, nucleus_mask(segmentation)
