"""The inference stage's output names: masks, per-cell files and montages in output_dir, exported models."""

MASK_SUFFIX = ".png"
CELLS_CSV = "cells.csv"
MONTAGE = "_montage.png"
EXPORT_DIR = "export"
EXPORT_INFO = "export_info.json"
EXPORT_FILES = {"keras": "model.keras", "savedmodel": "saved_model", "onnx": "model.onnx"}


def mask_name(stem: str) -> str:
    """The mask (or overlay) file written for an input of this stem."""
    return f"{stem}{MASK_SUFFIX}"
CELL_LABELS_SUFFIX = "_cells.tif"
GEOJSON_SUFFIX = ".geojson"


def cell_labels_name(stem: str) -> str:
    """The instance label image (cells and nuclei, 16-bit TIFF) written for an input of this stem."""
    return f"{stem}{CELL_LABELS_SUFFIX}"


def geojson_name(stem: str) -> str:
    """The cells as QuPath GeoJSON written for an input of this stem."""
    return f"{stem}{GEOJSON_SUFFIX}"


def slide_labels_name(stem: str) -> str:
    """The pyramidal label image (cells and nuclei) of a slide."""
    return f"{stem}_cells.ome.tif"


def slide_summary_name(stem: str) -> str:
    """What streaming a slide did (its record)."""
    return f"{stem}_slide.json"
