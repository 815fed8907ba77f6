"""Before fit: the splits, seeds, folders, resume state, batch sizes and callbacks of a training run."""

import importlib.util
import math
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np

from flexunet import plots
from flexunet.config import Config
from flexunet.config.names import PER_IMAGE_LOSSES
from flexunet.data.augment import Augmentor
from flexunet.data.dataset import PairSource, SegmentationBatches, resize_image
from flexunet.data.io import list_images, read_image
from flexunet.data.sources import Folders, folder_source, sample_spec
from flexunet.data.splits import Split, member_sources, split_options
from flexunet.errors import ConfigError
from flexunet.fsutil import atomic_write_bytes, prepare_output_dir
from flexunet.inference.predict import predict_batch_size
from flexunet.model.store import model_signature, signature_difference
from flexunet.training.callbacks import (
    AverageWeightsSwap,
    EpochChangeInfer,
    EpochSeeds,
    HistoryWriter,
    TrainingState,
)
from flexunet.training.distribute import worker_folder, worker_index
from flexunet.training.outputs import AUGMENTED_BATCH_PNG, TENSORBOARD_DIR
from flexunet.training.state import TrainState, load_state


def training_splits(config: Config) -> list[Split]:
    """(train, validation, how) per model trained, following [train] validation and ensemble."""
    spec = sample_spec(config.model, config.mask)
    full = folder_source(Folders(*config.folders("train", "for training")), spec)
    validation = None
    if config.train.validation == "eval":
        validation = folder_source(Folders(*config.folders("eval", "for validation = \"eval\"")), spec)
    return member_sources(full, validation, split_options(config.train), lambda key: config.where("train", key))


def worker_outputs(config: Config) -> Config:
    """In a multi-worker run only the chief writes the configured folders; the others write siblings."""
    index = worker_index(config.train.distribution)
    if not index:
        return config
    t = config.train
    t = replace(t, model_dir=worker_folder(t.model_dir, index), eval_dir=worker_folder(t.eval_dir, index),
                epoch_change_infer_dir=worker_folder(t.epoch_change_infer_dir, index))
    print(f"Worker {index} of a multi-worker run: writing to {t.model_dir} and {t.eval_dir}; "
          "the chief's folders hold the results")
    return replace(config, train=t)


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Keras, NumPy and Python; with `deterministic` on TensorFlow, also its op determinism."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def prepare_folders(config: Config, resume: bool) -> None:
    """model_dir, eval_dir (and the per-epoch pictures' folder) ready: kept when resuming, else made afresh
    (or the earlier ones moved aside with create_backup)."""
    t = config.train
    keys = ["model_dir", "eval_dir"] + (["epoch_change_infer_dir"] if t.epoch_change_infer else [])
    for key_name in keys:
        prepare_output_dir(getattr(t, key_name), config.where("train", key_name),
                           config.protected_folders(f"train {key_name}"), backup=t.create_backup, keep=resume)


def copy_config(config: Config) -> None:
    """The config a model was trained with, beside it in model_dir."""
    atomic_write_bytes(Path(config.train.model_dir) / Path(config.source).name, Path(config.source).read_bytes())


def resume_state(config: Config) -> TrainState | None:
    """The state of the interrupted run to resume ([train] resume), or None to start afresh; ConfigError when
    that run trained another architecture."""
    t = config.train
    if not t.resume:
        return None
    state = load_state(t.model_dir)
    if state is None:
        print(f"[train] resume = True, but {t.model_dir} holds no interrupted run; starting afresh")
        return None
    diffs = signature_difference(state.model, model_signature(config.model))
    if diffs:
        raise ConfigError(f"{config.where('train', 'resume')}: the interrupted run in {t.model_dir} "
                          f"was trained with {diffs}; restore those [model] values or set resume = False")
    return state


def training_batch_size(batch_size: int, images: int, min_steps: int | None) -> int:
    """batch_size, halved while it gives fewer than min_steps steps per epoch on `images` images and the
    half is still 2 or more (min_steps None: batch_size). 16 on 30 images with min_steps 8: 4 (8 steps)."""
    batch = batch_size
    while min_steps and math.ceil(images / batch) < min_steps and batch // 2 >= 2:
        batch //= 2
    return batch


def validation_batch_size(loss: str, batch_size: int, size: tuple[int, int], steps: int | None) -> int:
    """Images per validation step: the prediction batch (64 at 128 x 128, never below batch_size) when
    the loss is a mean of per-image values, which gives the val_loss of batch_size faster; batch_size
    when the loss pools over the batch (bce_dice_loss: its val_loss means what it means in training) or
    when validation_steps counts steps."""
    if steps is not None or loss not in PER_IMAGE_LOSSES:
        return batch_size
    return max(batch_size, predict_batch_size(None, size))


def batch_sizes(config: Config, images: int) -> tuple[int, int]:
    """(training batch, validation batch) for `images` training images; says so when the batch is lowered
    for [train] min_steps_per_epoch."""
    t = config.train
    batch = t.batch_size if t.steps_per_epoch else training_batch_size(t.batch_size, images, t.min_steps_per_epoch)
    if batch != t.batch_size:
        steps = math.ceil(images / t.batch_size)
        print(f"Batch size {batch}: {config.where('train', 'batch_size')} = {t.batch_size} gives {steps} "
              f"step{'s' if steps > 1 else ''} per epoch on {images} images, fewer than "
              f"min_steps_per_epoch = {t.min_steps_per_epoch}")
    return batch, validation_batch_size(config.model.loss, batch, config.model.input_size, t.validation_steps)


def augmentor(config: Config) -> Augmentor | None:
    if not config.generator.augmentation:
        return None
    return Augmentor(config.augmentor, labels=config.model.num_classes > 1)


def save_batch_preview(batches: SegmentationBatches, path: Path) -> None:
    """A picture of the first training batch as the model sees it (augmented when enabled)."""
    x, y = batches[0]
    images = [img.astype(np.uint8) for img in x[:8]]
    masks = [(m[..., -1] * 255).astype(np.uint8) for m in y[:8]]  # the nucleus: the last class
    plots.image_grid(path, [images, [plots.overlay(i, m) for i, m in zip(images, masks)]],
                     ["images", "masks"], title="First training batch")
    print(f"Saved the first training batch to {path}")


def tensorboard_callback(config: Config) -> keras.callbacks.Callback:
    """Keras's TensorBoard callback writing to eval_dir/tensorboard; the package must be installed."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(f"{config.where('train', 'tensorboard')}: True needs the tensorboard package "
                          "(pip install tensorboard), which is not installed")
    return keras.callbacks.TensorBoard(log_dir=str(Path(config.train.eval_dir) / TENSORBOARD_DIR))


def metric_columns(config: Config) -> list[str]:
    """The columns of train_metrics.csv: [train] metrics, or every [model] metric and its val_ twin."""
    if config.train.metrics is not None:
        return list(config.train.metrics)
    return [c for m in config.model.metrics for c in (m, f"val_{m}")]


def preview_images(config: Config, val: PairSource) -> tuple[np.ndarray, list[str]]:
    """The images predicted after every epoch: the first of [infer] images_dir, else of validation."""
    n = config.train.num_infer_images
    if config.infer.images_dir and Path(config.infer.images_dir).is_dir():
        files = list_images(config.infer.images_dir, config.where("infer", "images_dir"))[:n]
        images = [resize_image(read_image(f, config.model.image_channels), config.model.input_size) for f in files]
        return np.stack(images), [f.name for f in files]
    picks = list(range(min(n, len(val))))
    return np.stack([val.load(i)[0] for i in picks]), [val.pairs[i].image.name for i in picks]


def run_callbacks(config: Config, seed: int, state: TrainState | None, val_src: PairSource,
                  extra: list[keras.callbacks.Callback]) -> tuple[list[keras.callbacks.Callback], TrainingState]:
    """The toolkit's callbacks (seeds, curves, checkpoints and stopping, optional EMA swap, per-epoch
    pictures and TensorBoard), then `extra`; and the TrainingState among them."""
    t = config.train
    history = HistoryWriter(t.eval_dir, metric_columns(config), state.history if state else None)
    fresh = TrainState(model=model_signature(config.model))
    training = TrainingState(t.model_dir, t.patience, t.learning_rate_reducer, t.reducer_factor,
                             t.reducer_patience, history, state or fresh)
    callbacks: list[keras.callbacks.Callback] = [EpochSeeds(seed), history, training]
    if config.model.ema_momentum is not None:
        callbacks.insert(0, AverageWeightsSwap(resumed=state is not None))
    if t.epoch_change_infer:
        images, names = preview_images(config, val_src)
        callbacks.append(EpochChangeInfer(images, names, t.epoch_change_infer_dir))
    if t.tensorboard:
        callbacks.append(tensorboard_callback(config))
    return callbacks + list(extra), training


def preview_path(config: Config) -> Path:
    return Path(config.train.eval_dir) / AUGMENTED_BATCH_PNG
