"""The classes.csv a split of several Herlev classes writes: each file's class, source cell and split."""

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from flexunet.fsutil import atomic_write_text, csv_text

CLASSES_FILE = "classes.csv"
COLUMNS = ["file", "class", "source_cell", "split"]


@dataclass(frozen=True)
class ClassRow:
    """One split file: its name, Herlev class, source cell and split (train, valid or test)."""

    file: str
    herlev_class: str
    source_cell: str
    split: str


def write_classes(folder: str | os.PathLike, rows: Iterable[ClassRow]) -> Path:
    """Write <folder>/classes.csv (atomically); returns its path."""
    path = Path(folder) / CLASSES_FILE
    atomic_write_text(path, csv_text([{"file": r.file, "class": r.herlev_class, "source_cell": r.source_cell,
                                       "split": r.split} for r in rows], COLUMNS))
    return path


def read_classes(path: str | os.PathLike) -> list[ClassRow]:
    with open(path, newline="") as handle:
        return [ClassRow(r["file"], r["class"], r["source_cell"], r["split"]) for r in csv.DictReader(handle)]


def herlev_classes(images_dir: str | os.PathLike) -> dict[str, str]:
    """{file name: Herlev class} from the classes.csv beside a split of several classes (next to the images
    folder or one level up); {} when there is none."""
    for folder in (Path(images_dir).parent, Path(images_dir).parent.parent):
        if (folder / CLASSES_FILE).is_file():
            return {r.file: r.herlev_class for r in read_classes(folder / CLASSES_FILE)}
    return {}
