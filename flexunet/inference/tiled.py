"""The tiled-infer command: images of any size segmented tile by tile at full resolution, and whole slides
streamed window by window; the per-process set-up is shared with runs over many slides."""

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skimage.measure import label

from flexunet.config import Config
from flexunet.data.instances import Cell, cells_from_regions
from flexunet.data.io import read_image
from flexunet.errors import ConfigError
from flexunet.inference.cells import INSTANCE_COLUMNS, cell_maker, measure_instances
from flexunet.inference.outputs import mask_name
from flexunet.inference.predict import PredictFn, postprocess_predictor, predict_batch_size
from flexunet.inference.run import (
    Outputs,
    Prediction,
    _outputs,
    known_masks,
    list_inputs,
    trained_model,
    write_predictions,
)
from flexunet.inference.slide import SlideSettings, SlideSummary, infer_slide, is_slide
from flexunet.inference.tiling import predict_tiled_many
from flexunet.model.store import TrainedModel


def predict_tiles(files: list[Path], channels: int, tile: int, overlap: int, predict: PredictFn,
                  batch_size: int) -> Iterator[Prediction]:
    """(file, image, probabilities (H, W)) per file at full resolution, tile by tile; the tiles of
    consecutive images share predict calls (predict_tiled_many)."""
    read: deque[tuple[Path, np.ndarray]] = deque()

    def images() -> Iterator[np.ndarray]:
        for f in files:
            read.append((f, read_image(f, channels)))
            yield read[-1][1]

    for probs in predict_tiled_many(images(), predict, tile, overlap, batch_size):
        f, image = read.popleft()
        yield f, image, probs


@dataclass(frozen=True)
class TiledRun:
    """What tiled inference sets up once per process: the predict callable, the tile and its overlap, how
    predictions become masks and cells, and how slides are streamed."""

    predict: PredictFn
    tile: int
    overlap: int
    batch_size: int
    channels: int
    outputs: Outputs
    slide: SlideSettings

    def cells_of(self, probs: np.ndarray) -> list[Cell]:
        """The cells of a window's probabilities: a 3-class model's cells, else its nuclei (each a cell)."""
        if self.outputs.cells is not None:
            return self.outputs.cells.cells(probs)
        mask = self.outputs.rule.apply(probs) > 127
        return cells_from_regions(label(mask, connectivity=2), mask)

    def measure(self, cells: list[Cell], image: np.ndarray) -> list[dict]:
        return measure_instances(cells, image, self.outputs.pixel_size_um)


def tiled_run(config: Config, trained: TrainedModel | None = None) -> TiledRun:
    """The set-up of tiled inference for a config (the model loaded, unless `trained` holds it)."""
    tile = config.model.image_width
    if config.model.image_height != tile:
        raise ConfigError(f"{config.where('model', 'image_height')}: tiled inference expected a square "
                          f"model input, got {config.model.image_height}x{tile}")
    s = config.tiledinfer
    if s.overlapping >= tile:
        raise ConfigError(f"{config.where('tiledinfer', 'overlapping')}: expected less than the "
                          f"tile size {tile}, got {s.overlapping}")
    trained, rule = trained_model(config, trained)
    outputs = Outputs(Path("."), None, rule, s.binarize, s.background, config.infer.pixel_size_um,
                      config.model.num_classes, cell_maker(trained.record, config.model, config.postprocess))
    sl = config.slide
    return TiledRun(postprocess_predictor(trained.model, config.postprocess), tile, s.overlapping,
                    predict_batch_size(config.infer.batch_size, config.model.input_size), config.model.image_channels,
                    outputs, SlideSettings(sl.window_px, sl.halo_px, sl.pixel_size_um, sl.skip_background,
                                           sl.min_pixels))


def infer_files(run: TiledRun, files: list[Path], out: Path, merged: Path | None = None,
                masks_dir: Path | None = None) -> tuple[int, list[SlideSummary]]:
    """Segment `files` into `out`: slides streamed one by one, the other images tile by tile together;
    (images written, the slides' summaries)."""
    slides = [f for f in files if is_slide(f, run.slide.min_pixels)]
    images = [f for f in files if f not in slides]
    if images:
        predictions = predict_tiles(images, run.channels, run.tile, run.overlap, run.predict, run.batch_size)
        outputs = Outputs(out, merged, *[getattr(run.outputs, k) for k in ("rule", "binarize", "background",
                                                                          "pixel_size_um", "num_classes", "cells")])
        write_predictions(predictions, outputs, masks_dir, desc="Tiled inference")
    summaries = [infer_slide(f, out, run.predict, run.tile, run.overlap, run.batch_size, run.cells_of, run.measure,
                             INSTANCE_COLUMNS, run.slide) for f in slides]
    for summary in summaries:
        print(f"Slide {summary.slide}: level {summary.level} ({summary.width} x {summary.height}), "
              f"{summary.cells} cells ({summary.cut_cells} wider than the halo), {summary.windows} windows of which "
              f"{summary.skipped} were background, {summary.tiles} tiles, {summary.seconds:.0f} s"
              + ("" if summary.cells else "; no cells found"))
    return len(images), summaries


def run_tiled_inference(config: Config, trained: TrainedModel | None = None) -> list[Path]:
    """Segment [tiledinfer] images_dir tile by tile at full resolution, blending overlaps (`trained` as for
    run_inference); slides are streamed window by window."""
    images_dir = config.require("tiledinfer", "images_dir", "for tiled inference")
    files = list_inputs(images_dir, config.where("tiledinfer", "images_dir"))
    run = tiled_run(config, trained)
    out, merged = _outputs(config, "tiledinfer", images_dir)
    count, summaries = infer_files(run, files, out, merged, known_masks(config, images_dir))
    print(f"Wrote {count} tiled mask(s) to {out}" + (f" and overlays to {merged}" if merged else "")
          + (f", and {len(summaries)} slide(s)" if summaries else ""))
    return [out / mask_name(f.stem) for f in files if not any(s.slide == str(f) for s in summaries)]

