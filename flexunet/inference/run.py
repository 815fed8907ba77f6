"""The infer commands: a mask for every image in a folder at its own size (whole, or tile by tile), and
overlays; the predictions stream from pure functions over a predict callable."""

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from flexunet import plots
from flexunet.config import Config
from flexunet.data.cell_labels import write_cell_labels
from flexunet.data.dataset import resize_image
from flexunet.data.geojson import write_cells_geojson
from flexunet.data.instances import Cell
from flexunet.data.io import list_images, read_image, read_mask, write_image
from flexunet.data.labels import read_labels, to_grey
from flexunet.errors import DataError
from flexunet.fsutil import atomic_write_text, csv_text, prepare_output_dir
from flexunet.inference.cells import INSTANCE_COLUMNS, CellMaker, cell_labels, cell_maker, measure_instances
from flexunet.inference.measures import CELL_COLUMNS, measure_cells
from flexunet.inference.outputs import CELLS_CSV, MONTAGE, cell_labels_name, geojson_name, mask_name
from flexunet.inference.postprocess import MaskRule, configured_rule
from flexunet.inference.predict import (
    PREDICT_PIXELS,
    PredictFn,
    postprocess_predictor,
    predict_batch_size,
    squeeze_binary,
)
from flexunet.model.store import TrainedModel, load_trained

Prediction = tuple[Path, np.ndarray, np.ndarray]

WRITERS = 2
WRITE_AHEAD_PIXELS = 2 * PREDICT_PIXELS
MONTAGE_IMAGES = 8


def _outputs(config, section: str, images_dir: str):
    s = getattr(config, section)
    protected = config.protected_folders(f"{section} output_dir")
    out = prepare_output_dir(s.output_dir, config.where(section, "output_dir"), protected)
    merged = None
    if s.merged_dir:
        protected["output folder"] = str(out)
        merged = prepare_output_dir(s.merged_dir, config.where(section, "merged_dir"), protected)
    return out, merged


def list_inputs(images_dir: str, what: str) -> list[Path]:
    """The images to segment; two files that would write the same mask name are an error."""
    files = list_images(images_dir, what)
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise DataError(f"{what}: {seen[f.stem].name} and {f.name} would both write "
                            f"{mask_name(f.stem)}; rename one of them")
        seen[f.stem] = f
    return files


def known_masks(config: Config, images_dir: str) -> Path | None:
    """The mask folder paired with images_dir in [train], [eval] or [test], if it is one of them."""
    for section in ("test", "eval", "train"):
        s = getattr(config, section)
        if s.image_datapath and s.mask_datapath and Path(s.image_datapath).resolve() == Path(images_dir).resolve():
            return Path(s.mask_datapath)
    return None


def write_montage(path: Path, samples: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
                  masks_dir: Path | None, num_classes: int = 1) -> None:
    """input | ground truth (when known) | prediction | overlay, one column per sample (name, image, mask as
    written, overlay)."""
    names, images, masks, overlays = zip(*samples)
    rows, titles = [list(images)], ["input"]
    if masks_dir is not None:
        truths = []
        for name, image in zip(names, images):
            found = sorted(masks_dir.glob(f"{Path(name).stem}.*"))
            if num_classes > 1:
                labels = (read_labels(found[0], num_classes, image.shape[:2]) if found
                          else np.zeros(image.shape[:2], np.uint8))
                truths.append(plots.label_overlay(image, cv2.resize(labels, image.shape[1::-1],
                                                                    interpolation=cv2.INTER_NEAREST), num_classes))
            else:
                truth = read_mask(found[0], image.shape[:2]) if found else np.zeros(image.shape[:2], np.uint8)
                truths.append(plots.overlay(image, cv2.resize(truth, image.shape[1::-1]), (255, 255, 0)))
        rows.append(truths)
        titles.append("ground truth")
    rows += [list(masks), list(overlays)]
    titles += ["prediction", "overlay"]
    plots.tile_grid(path, rows, titles, [n[:18] for n in names])


def predict_resized(files: list[Path], channels: int, size: tuple[int, int], predict: PredictFn,
                    batch_size: int) -> Iterator[Prediction]:
    """(file, image, probabilities (H, W) at the image's size) per file: each image resized to the model
    size, predicted `batch_size` at a time, and the probabilities resized back."""
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        originals = [read_image(f, channels) for f in chunk]
        x = np.stack([resize_image(img, size).reshape(*size, channels) for img in originals])
        probs = squeeze_binary(np.asarray(predict(x.astype(np.float32))))
        for f, image, p in zip(chunk, originals, probs):
            h, w = image.shape[:2]
            yield f, image, (cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR) if (h, w) != size else p)


@dataclass(frozen=True)
class Outputs:
    """Where and how predictions are written: masks (and overlays) as <stem>.png, cells.csv beside the masks;
    with `cells` (a 3-class model) also each image's cells as <stem>_cells.tif and <stem>.geojson.
    `model_size`: the model's input, whose pixels the rule's sizes count, when predictions were resized
    back to each image's own size (None: they are at the model's scale, as tiled inference makes them)."""

    out: Path
    merged: Path | None
    rule: MaskRule
    binarize: bool = True
    background: int = 0
    pixel_size_um: float | None = None
    num_classes: int = 1
    cells: CellMaker | None = None
    model_size: tuple[int, int] | None = None

    def area_scale(self, shape: tuple[int, int]) -> float:
        """Image pixels per model pixel."""
        return 1.0 if self.model_size is None else shape[0] * shape[1] / (self.model_size[0] * self.model_size[1])


Rendered = tuple[np.ndarray, np.ndarray, list[dict], list[Cell] | None]


def render(image: np.ndarray, probs: np.ndarray, o: Outputs) -> Rendered:
    """(the mask as written, its overlay on the image, the cells measured, the cells or None) of one prediction.

    One channel: a 0/255 mask at the rule's threshold and clean-up (`background` for background), or
    the probabilities x 255 when not binarize. Cells (a 3-class model): the grey-coded label PNG (0
    background, 128 cytoplasm, 255 nucleus) of the cells, and an overlay outlining each cell in its own
    colour with its N/C ratio. Other class counts: the grey-coded label PNG and a colour overlay.
    """
    if o.cells is not None:
        cells = o.cells.cells(probs, o.area_scale(image.shape[:2]))
        rows = measure_instances(cells, image, o.pixel_size_um)
        ratios = {r["cell"]: f"{r['nc_ratio']:.2f}" for r in rows if np.isfinite(r["nc_ratio"])}
        return (to_grey(cell_labels(cells, image.shape[:2]), 3), plots.cell_overlay(image, cells, ratios), rows,
                cells)
    if probs.ndim == 3:
        classes = probs.shape[-1]
        labels = o.rule.apply(probs)
        nucleus, cytoplasm = labels == classes - 1, (labels > 0) & (labels < classes - 1) if classes > 2 else None
        return to_grey(labels, classes), plots.label_overlay(image, labels, classes), measure_cells(
            nucleus, image, cytoplasm, o.pixel_size_um), None
    mask = o.rule.apply(probs)
    written = (np.where(mask > 127, 255, o.background).astype(np.uint8) if o.binarize
               else np.clip(probs * 255.0, 0, 255).round().astype(np.uint8))
    return written, plots.overlay(image, mask if o.binarize else written), measure_cells(
        mask > 127, image, None, o.pixel_size_um), None


def write_predictions(predictions: Iterable[Prediction], o: Outputs, masks_dir: Path | None = None,
                      desc: str = "Inferring") -> int:
    """Write each prediction's mask (and overlay) as <stem>.png (with cells also <stem>_cells.tif and
    <stem>.geojson), by WRITERS threads while the next predictions are computed (up to WRITE_AHEAD_PIXELS
    of images waiting, about two predict calls), cells.csv with a row per nucleus (per cell), and a montage
    of the first MONTAGE_IMAGES; returns the count."""

    def finish(f: Path, image: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        written, overlay, rows, cells = render(image, probs, o)
        write_image(o.out / mask_name(f.stem), written)
        if o.merged is not None:
            write_image(o.merged / mask_name(f.stem), overlay)
        rows = [{**r, "file": f.name} for r in rows]
        if cells is not None:
            write_cell_labels(o.out / cell_labels_name(f.stem), cells, image.shape[:2])
            write_cells_geojson(o.out / geojson_name(f.stem), cells, {r["cell"]: r for r in rows})
        return written, overlay, rows

    samples, pending, cells = [], deque(), []
    waiting = 0
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        for f, image, probs in tqdm(predictions, desc=desc, unit="img", leave=False, disable=None):
            pending.append((f, image, pool.submit(finish, f, image, probs)))
            waiting += image.shape[0] * image.shape[1]
            while len(pending) > WRITERS and waiting > WRITE_AHEAD_PIXELS:
                done = pending.popleft()
                waiting -= done[1].shape[0] * done[1].shape[1]
                cells += _collect(done, samples)
        while pending:
            cells += _collect(pending.popleft(), samples)
    atomic_write_text(o.out / CELLS_CSV, csv_text(cells, INSTANCE_COLUMNS if o.cells is not None else CELL_COLUMNS))
    if o.merged is not None and samples:
        write_montage(o.merged / MONTAGE, samples, masks_dir, o.num_classes)
    return len({c["file"] for c in cells}) if cells else 0


def _collect(item, samples: list) -> list[dict]:
    f, image, job = item
    mask, overlay, cells = job.result()
    if len(samples) < MONTAGE_IMAGES:
        samples.append((f.name, image, mask, overlay))
    return cells


def trained_model(config: Config, trained: TrainedModel | None) -> tuple[TrainedModel, MaskRule]:
    """The trained model given (held by the caller), else the one in [train] model_dir; and its mask rule
    under the [postprocess] settings."""
    trained = trained if trained is not None else load_trained(config)
    return trained, configured_rule(trained.record, config.postprocess)


def run_inference(config: Config, trained: TrainedModel | None = None) -> list[Path]:
    """Segment [infer] images_dir; one mask per input (input's stem, input's size) in output_dir. `trained`:
    a model already loaded (TensorflowUNet.load_model), else the one in [train] model_dir is loaded."""
    images_dir = config.require("infer", "images_dir", "for inference")
    files = list_inputs(images_dir, config.where("infer", "images_dir"))
    trained, rule = trained_model(config, trained)
    out, merged = _outputs(config, "infer", images_dir)
    predict = postprocess_predictor(trained.model, config.postprocess)
    predictions = predict_resized(files, config.model.image_channels, config.model.input_size, predict,
                                  predict_batch_size(config.infer.batch_size, config.model.input_size))
    write_predictions(predictions, Outputs(out, merged, rule, config.infer.binarize,
                                           pixel_size_um=config.infer.pixel_size_um,
                                           num_classes=config.model.num_classes,
                                           cells=cell_maker(trained.record, config.model, config.postprocess),
                                           model_size=config.model.input_size),
                      known_masks(config, images_dir))
    print(f"Wrote {len(files)} mask(s) to {out}" + (f" and overlays to {merged}" if merged else ""))
    return [out / mask_name(f.stem) for f in files]
