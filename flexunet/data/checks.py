"""Data sanity checks that warn (0/1 masks, empty masks, size differences) and split summaries."""

from collections import Counter

from PIL import Image

from flexunet.data.io import read_mask
from flexunet.data.labels import read_labels
from flexunet.data.pairs import Pair, shared_cells, source_cell_id
from flexunet.errors import DataError

SAMPLE = 32


def _size(path) -> tuple[int, int] | None:
    try:
        with Image.open(path) as img:
            return img.size
    except Exception:
        return None


def _mask_values(picks: list[Pair], what: str, threshold: int, num_classes: int) -> list[str]:
    """Notes on the sampled masks' values; DataError when they hold nothing to learn."""
    folder = picks[0].mask.parent if picks else None
    if num_classes > 1:
        if picks and max(int(read_labels(p.mask, num_classes).max(initial=0)) for p in picks) == 0:
            raise DataError(f"{what}: the {len(picks)} sampled label masks of {folder} hold only "
                            "background (class 0); check the masks or [model] num_classes")
        return []
    largest = max((int(read_mask(p.mask).max(initial=0)) for p in picks), default=None)
    if largest == 1:
        return [f"{what}: masks hold 0/1 values, not 0/255; reading 1 as nucleus"]
    if largest is not None and largest <= threshold:
        raise DataError(f"{what}: no pixel above [mask] threshold = {threshold} in {len(picks)} sampled masks of "
                        f"{folder} (the largest value is {largest}), so there is no nucleus to "
                        "learn or score; lower the threshold or check the masks")
    return []


def warn_about_masks(pairs: list[Pair], what: str, threshold: int = 128, num_classes: int = 1,
                     sample: int = SAMPLE) -> list[str]:
    """Print (and return) warnings about masks: 0/1 labels, sizes unlike their images. DataError when no
    sampled mask holds a pixel above `threshold` (training or scoring would see no nucleus), and with
    num_classes > 1 when a sampled mask holds a value that is no class or only background."""
    picks = pairs[:: max(1, len(pairs) // sample)][:sample]
    notes = _mask_values(picks, what, threshold, num_classes)
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
