"""Split a master images/masks folder into train/valid/test, whole source cells at a time by default."""

import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from flexunet.data.classes_file import ClassRow, write_classes
from flexunet.data.io import is_image_file
from flexunet.data.pairs import Pair, pair_files, shuffled_cells, source_cell_id
from flexunet.errors import ConfigError, DataError, OutputError
from flexunet.fsutil import backup_folder, prepare_output_dir

SPLITS = ("train", "valid", "test")
SEED_RATIOS = (0.80, 0.15, 0.05)
MODES = ("grouped", "random")
DEFAULT_SEED = 137


def check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    """Three numbers >= 0 summing to 1 with train > 0; ConfigError otherwise."""
    try:
        values = tuple(float(r) for r in ratios)
    except (TypeError, ValueError):
        values = ()
    if (len(values) != 3 or any(not math.isfinite(v) or v < 0 for v in values) or values[0] <= 0
            or abs(sum(values) - 1.0) > 1e-6):
        raise ConfigError(f"ratios: expected train valid test fractions >= 0 (train > 0) summing to 1, "
                          f"got {tuple(ratios) if isinstance(ratios, (list, tuple)) else ratios!r}")
    return values


def grouped_assignment(names: list[str], ratios: Sequence[float], seed: int) -> list[int]:
    """Split index (0 train, 1 valid, 2 test) per name; all copies of a source cell share one split.

    Cells are shuffled by `seed` and laid end to end; a cell goes to the split whose share of
    the files holds the cell's middle, so each split is within one cell of its ratio.
    """
    groups, order = shuffled_cells(names, seed)
    bounds = np.cumsum(ratios) * len(names)
    assignment = [0] * len(names)
    done = 0
    for cell in order:
        middle = done + len(groups[cell]) / 2
        split = min(int(np.searchsorted(bounds, middle, side="right")), len(SPLITS) - 1)
        for i in groups[cell]:
            assignment[i] = split
        done += len(groups[cell])
    return assignment


def random_assignment(count: int, ratios: Sequence[float], seed: int) -> list[int]:
    """The seed's per-file split: shuffle, int(n*train) to train, int(n*valid) to valid, rest to test."""
    order = np.random.default_rng(seed).permutation(count)
    n_train, n_valid = int(count * ratios[0]), int(count * ratios[1])
    assignment = [0] * count
    for rank, i in enumerate(order):
        assignment[int(i)] = 0 if rank < n_train else (1 if rank < n_train + n_valid else 2)
    return assignment


def _output(output: Path, source: Path, force: bool) -> Path:
    resolved = output.resolve()
    if resolved == source.resolve() or source.resolve().is_relative_to(resolved):
        raise OutputError(f"output {output}: expected a folder of its own, got one that is or holds "
                          f"the input {source}")
    if output.exists() and not output.is_dir():
        raise OutputError(f"output {output}: expected a folder, found a file")
    if output.exists() and any(output.iterdir()):
        if not force:
            raise OutputError(f"output {output}: expected an empty or new folder, found files "
                              "(use --force to move it to a *_bak folder first)")
        moved = backup_folder(output)
        print(f"Moved the earlier {output} to {moved}")
    return prepare_output_dir(output, "output")


def _copy(pairs: list[Pair], folder: Path) -> None:
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for pair in pairs:
        try:
            shutil.copy2(pair.image, folder / "images" / pair.image.name)
            shutil.copy2(pair.mask, folder / "masks" / pair.mask.name)
        except OSError as exc:
            raise OutputError(f"copying {pair.image.name} into {folder}: {exc.strerror or exc}") from exc


def _class_folders(source: Path, classes: Sequence[str] | None) -> dict[str, Path]:
    """{class: folder} of a master folder: itself when it holds images/ (its name is the class), else its
    sub-folders that do (the ones named in `classes`, each of which must exist)."""
    if (source / "images").is_dir():
        return {source.name: source}
    found = {p.name: p for p in sorted(source.iterdir()) if (p / "images").is_dir()} if source.is_dir() else {}
    if classes:
        missing = [c for c in classes if c not in found]
        if missing:
            raise DataError(f"input {source}: expected a class folder {missing[0]!r} with images/ and masks/, "
                            f"found {', '.join(found) or 'none'}")
        found = {c: found[c] for c in classes}
    if not found:
        raise DataError(f"input {source}: expected images/ and masks/, or class folders holding them, found none")
    return found


def split_master(input_dir: str | os.PathLike, output_dir: str | os.PathLike, mode: str = "grouped",
                 seed: int = DEFAULT_SEED, ratios: Sequence[float] = SEED_RATIOS, force: bool = False,
                 verbose: bool = True, classes: Sequence[str] | None = None) -> dict:
    """Copy <input>/{images,masks} pairs into <output>/{train,valid,test}/{images,masks}.

    mode "grouped" keeps the 13 copies of a source cell in one split; "random" shuffles files
    as the seed did (copies of one cell leak across splits). An input of class folders (a whole
    Smear2005-master, or the `classes` named) is split class by class (stratified: each class in
    the ratios) into the same flat folders, and <output>/classes.csv records each file's class.
    A non-empty output folder is refused unless `force`, which moves it to
    <output>_<timestamp>_bak (nothing is deleted). Returns images and source cells per split.
    """
    if mode not in MODES:
        raise ConfigError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed: expected an int >= 0, got {seed!r}")
    ratios = check_ratios(ratios)
    source = Path(input_dir)
    if not source.is_dir():
        raise DataError(f"input {source}: expected a folder with images/ and masks/, found nothing")
    folders = _class_folders(source, classes)
    pairs, assignment, owner = [], [], {}
    for class_name, folder in folders.items():
        found = pair_files(folder / "images", folder / "masks", f"input images {folder / 'images'}",
                           f"input masks {folder / 'masks'}")
        for p in found:
            if p.image.name in owner:
                raise DataError(f"input {source}: {p.image.name} is in both {owner[p.image.name]} and "
                                f"{class_name}; the split folders are flat, so file names must differ")
            owner[p.image.name] = class_name
        names = [p.image.name for p in found]
        assignment += (grouped_assignment(names, ratios, seed) if mode == "grouped"
                       else random_assignment(len(found), ratios, seed))
        pairs += found
    out = _output(Path(output_dir), source, force)
    result: dict = {"output_dir": str(out), "mode": mode, "seed": seed, "ratios": ratios,
                    "classes": list(folders)}
    for index, split in enumerate(SPLITS):
        chosen = [p for p, a in zip(pairs, assignment) if a == index]
        _copy(chosen, out / split)
        cells = {source_cell_id(p.image.name) for p in chosen}
        result[split] = {"images": len(chosen), "cells": len(cells)}
        if verbose:
            print(f"{split:5s}: {len(chosen):6d} images from {len(cells):5d} source cells")
    if len(folders) > 1 or not (source / "images").is_dir():
        written = write_classes(out, [ClassRow(p.image.name, owner[p.image.name], source_cell_id(p.image.name),
                                               SPLITS[a]) for p, a in zip(pairs, assignment)])
        if verbose:
            print(f"classes: {', '.join(folders)}; each file's class in {written}")
    return result


def _split_names(folder: Path, split: str) -> list[str]:
    images = folder / split / "images"
    if not images.is_dir():
        return []
    return sorted(p.name for p in images.iterdir() if p.is_file() and is_image_file(p))


def check_split(split_dir: str | os.PathLike, verbose: bool = True) -> dict:
    """Source cells with copies in more than one of train/valid/test (0 on a grouped split)."""
    folder = Path(split_dir)
    names = {s: _split_names(folder, s) for s in SPLITS}
    present = [s for s in SPLITS if names[s]]
    if len(present) < 2:
        raise DataError(f"split folder {folder}: expected images in at least two of "
                        f"{', '.join(s + '/images' for s in SPLITS)}, found {len(present)}")
    cells = {s: {source_cell_id(n) for n in names[s]} for s in SPLITS}
    pairs = {}
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1:]:
            pairs[f"{a}-{b}"] = sorted(cells[a] & cells[b])
    shared = sorted(set().union(*pairs.values()))
    result = {
        "images": {s: len(names[s]) for s in SPLITS},
        "cells": {s: len(cells[s]) for s in SPLITS},
        "shared_cells": len(shared),
        "shared_by_pair": {k: len(v) for k, v in pairs.items()},
        "examples": shared[:5],
    }
    if verbose:
        for s in SPLITS:
            print(f"{s:5s}: {len(names[s]):6d} images from {len(cells[s]):5d} source cells")
        detail = ", ".join(f"{k} {len(v)}" for k, v in pairs.items())
        print(f"source cells shared between splits: {len(shared)} ({detail})")
        if shared:
            print(f"e.g. {', '.join(shared[:5])}")
    return result
