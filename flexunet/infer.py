"""Inference: masks for every image in a folder, batched, at each image's own size; overlays."""

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from flexunet import plots
from flexunet.config import Config
from flexunet.data.dataset import resize_image
from flexunet.data.io import list_images, read_image, read_mask, write_image
from flexunet.errors import ConfigError, DataError
from flexunet.fsutil import prepare_output_dir
from flexunet.modelio import load_trained
from flexunet.predict import postprocess_predictor, to_mask
from flexunet.tiling import predict_tiled

MASK_SUFFIX = ".png"
WRITERS = 2
MONTAGE = "_montage.png"
MONTAGE_IMAGES = 8


def _outputs(config, section: str, images_dir: str):
    s = getattr(config, section)
    protected = {"config folder": Path(config.base_dir), "input folder": Path(images_dir),
                 "model folder": Path(config.train.model_dir)}
    out = prepare_output_dir(s.output_dir, config.where(section, "output_dir"), protected)
    merged = None
    if s.merged_dir:
        protected["output folder"] = out
        merged = prepare_output_dir(s.merged_dir, config.where(section, "merged_dir"), protected)
    return out, merged


def list_inputs(images_dir: str, what: str) -> list[Path]:
    """The images to segment; two files that would write the same mask name are an error."""
    files = list_images(images_dir, what)
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise DataError(f"{what}: {seen[f.stem].name} and {f.name} would both write "
                            f"{f.stem}{MASK_SUFFIX}; rename one of them")
        seen[f.stem] = f
    return files


def known_masks(config: Config, images_dir: str) -> Path | None:
    """The mask folder paired with images_dir in [train], [eval] or [test], if it is one of them."""
    for section in ("test", "eval", "train"):
        s = getattr(config, section)
        if s.image_datapath and s.mask_datapath and Path(s.image_datapath).resolve() == Path(images_dir).resolve():
            return Path(s.mask_datapath)
    return None


def write_montage(path: Path, samples: list[tuple[str, np.ndarray, np.ndarray]], masks_dir: Path | None) -> None:
    """input | ground truth (when known) | prediction | overlay, one column per sample image."""
    names, images, preds = zip(*samples)
    rows, titles = [list(images)], ["input"]
    if masks_dir is not None:
        truths = []
        for name, image in zip(names, images):
            found = sorted(masks_dir.glob(f"{Path(name).stem}.*"))
            truth = read_mask(found[0]) if found else np.zeros(image.shape[:2], np.uint8)
            truths.append(plots.overlay(image, cv2.resize(truth, image.shape[1::-1]), (255, 255, 0)))
        rows.append(truths)
        titles.append("ground truth")
    rows += [list(preds), [plots.overlay(i, m) for i, m in zip(images, preds)]]
    titles += ["prediction", "overlay"]
    plots.image_grid(path, rows, titles, [n[:16] for n in names])


def _write(out: Path, merged: Path | None, name: str, image: np.ndarray, probs: np.ndarray,
           threshold: float, binarize: bool, post, background: int = 0) -> np.ndarray:
    if binarize:
        mask = to_mask(probs, threshold, post.keep_largest, post.fill_holes)
        written = np.where(mask > 127, 255, background).astype(np.uint8)
    else:
        mask = np.clip(probs * 255.0, 0, 255).round().astype(np.uint8)
        written = mask
    write_image(out / f"{Path(name).stem}{MASK_SUFFIX}", written)
    if merged is not None:
        write_image(merged / f"{Path(name).stem}{MASK_SUFFIX}", plots.overlay(image, mask))
    return mask


def run_inference(config: Config) -> list[Path]:
    """Segment [infer] images_dir; one mask per input (input's stem, input's size) in output_dir."""
    images_dir = config.require("infer", "images_dir", "for inference")
    files = list_inputs(images_dir, config.where("infer", "images_dir"))
    model, threshold = load_trained(config)
    out, merged = _outputs(config, "infer", images_dir)
    size = (config.model.image_height, config.model.image_width)
    channels = config.model.image_channels
    predict = postprocess_predictor(model, config.postprocess)
    batch = config.infer.batch_size or 16

    def finish(f: Path, img: np.ndarray, p: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        full = cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR) if (h, w) != size else p
        return _write(out, merged, f.name, img, full, threshold, config.infer.binarize, config.postprocess)

    samples, pending = [], deque()
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        for start in tqdm(range(0, len(files), batch), desc="Inferring", unit="batch", leave=False,
                          disable=None):
            chunk = files[start:start + batch]
            originals = [read_image(f, channels) for f in chunk]
            x = np.stack([resize_image(img, size).reshape(*size, channels) for img in originals])
            probs = np.asarray(predict(x.astype(np.float32)))[..., 0]
            pending.extend((f, img, pool.submit(finish, f, img, p)) for f, img, p in zip(chunk, originals, probs))
            while len(pending) > 2 * batch or (pending and start + batch >= len(files)):
                f, img, job = pending.popleft()
                mask = job.result()
                if len(samples) < MONTAGE_IMAGES:
                    samples.append((f.name, img, mask))
    if merged is not None:
        write_montage(merged / MONTAGE, samples, known_masks(config, images_dir))
    print(f"Wrote {len(files)} mask(s) to {out}" + (f" and overlays to {merged}" if merged else ""))
    return [out / f"{f.stem}{MASK_SUFFIX}" for f in files]


def run_tiled_inference(config: Config) -> list[Path]:
    """Segment [tiledinfer] images_dir tile by tile at full resolution, blending overlaps."""
    s = config.tiledinfer
    images_dir = config.require("tiledinfer", "images_dir", "for tiled inference")
    files = list_inputs(images_dir, config.where("tiledinfer", "images_dir"))
    tile = config.model.image_width
    if config.model.image_height != tile:
        raise ConfigError(f"{config.where('model', 'image_height')}: tiled inference expected a square "
                          f"model input, got {config.model.image_height}x{tile}")
    if s.overlapping >= tile:
        raise ConfigError(f"{config.where('tiledinfer', 'overlapping')}: expected less than the "
                          f"tile size {tile}, got {s.overlapping}")
    model, threshold = load_trained(config)
    out, merged = _outputs(config, "tiledinfer", images_dir)
    predict = postprocess_predictor(model, config.postprocess)
    samples = []
    for f in tqdm(files, desc="Tiled inference", unit="img", leave=False, disable=None):
        image = read_image(f, config.model.image_channels)
        probs = predict_tiled(image, predict, tile, s.overlapping)
        mask = _write(out, merged, f.name, image, probs, threshold, s.binarize, config.postprocess,
                      s.background)
        if len(samples) < MONTAGE_IMAGES:
            samples.append((f.name, image, mask))
    if merged is not None:
        write_montage(merged / MONTAGE, samples, known_masks(config, images_dir))
    print(f"Wrote {len(files)} tiled mask(s) to {out}" + (f" and overlays to {merged}" if merged else ""))
    return [out / f"{f.stem}{MASK_SUFFIX}" for f in files]
