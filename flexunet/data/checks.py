"""Data sanity checks that warn (0/1 masks, empty masks, size differences) and split summaries."""

from collections import Counter

from PIL import Image

from flexunet.data.io import read_mask
from flexunet.data.pairs import Pair, shared_cells, source_cell_id

SAMPLE = 32


def _size(path) -> tuple[int, int] | None:
    try:
        with Image.open(path) as img:
            return img.size
    except Exception:
        return None


def warn_about_masks(pairs: list[Pair], what: str, sample: int = SAMPLE) -> list[str]:
    """Print (and return) warnings about masks: 0/1 labels, all empty, sizes unlike their images."""
    notes = []
    picks = pairs[:: max(1, len(pairs) // sample)][:sample]
    maxima = [int(read_mask(p.mask).max(initial=0)) for p in picks]
    if maxima and max(maxima) == 1:
        notes.append(f"{what}: masks hold 0/1 values, not 0/255; reading 1 as nucleus")
    elif maxima and max(maxima) == 0:
        notes.append(f"{what}: the sampled masks are all empty (no nucleus pixels)")
    mismatched = [p.image.name for p in picks if _size(p.image) != _size(p.mask)]
    if mismatched:
        notes.append(f"{what}: {len(mismatched)} sampled mask(s) differ in size from their image "
                     f"(e.g. {mismatched[0]}); both are resized to the model size")
    sizes = Counter(size for size in (_size(p.image) for p in picks) if size is not None)
    if len(sizes) > 1:
        shown = ", ".join(f"{w}x{h}" for (w, h), _ in sizes.most_common(3))
        notes.append(f"{what}: image sizes vary ({shown}); all are resized to the model size")
    for note in notes:
        print(f"warning: {note}")
    return notes


def describe_split(train: list[Pair], val: list[Pair], how: str) -> str:
    """One line: images and source cells per side, and how many cells both sides share."""
    names_t, names_v = [p.image.name for p in train], [p.image.name for p in val]
    cells_t = {source_cell_id(n) for n in names_t}
    cells_v = {source_cell_id(n) for n in names_v}
    shared = len(shared_cells(names_t, names_v))
    return (f"Training on {len(train)} images ({len(cells_t)} source cells); validating on "
            f"{len(val)} images ({len(cells_v)} source cells) from {how}; "
            f"source cells on both sides: {shared}")
