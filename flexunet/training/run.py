"""The train command: data and validation split, folders, callbacks, fit, then threshold selection."""

import importlib.util
import math
import sys
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np

from flexunet import plots
from flexunet.config import Config
from flexunet.data.augment import Augmentor
from flexunet.data.checks import describe_split
from flexunet.data.dataset import PairSource, SegmentationBatches, resize_image
from flexunet.data.graph import in_graph
from flexunet.data.io import list_images, read_image
from flexunet.data.sources import Folders, folder_source, sample_spec
from flexunet.data.splits import Split, member_sources, split_options
from flexunet.errors import ConfigError, ModelError
from flexunet.fsutil import atomic_write_bytes, prepare_output_dir
from flexunet.inference.predict import postprocess_predictor, predict_batch_size
from flexunet.locks import holding
from flexunet.model.files import BEST_MODEL, LAST_MODEL, best_model_files, member_dir, write_info
from flexunet.model.names import PER_IMAGE_LOSSES
from flexunet.model.store import (
    average_models,
    compiled_unet,
    load_unet,
    member_configs,
    model_signature,
    signature_difference,
)
from flexunet.training.callbacks import (
    AverageWeightsSwap,
    EpochChangeInfer,
    EpochSeeds,
    HistoryWriter,
    TrainingState,
    load_state,
)
from flexunet.training.distribute import strategy_scope, worker_folder, worker_index
from flexunet.training.selection import COSTS_MORE_THAN_A_LITTLE, choose_rule


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
    return keras.callbacks.TensorBoard(log_dir=str(Path(config.train.eval_dir) / "tensorboard"))


def _metric_columns(config) -> list[str]:
    if config.train.metrics is not None:
        return list(config.train.metrics)
    return [c for m in config.model.metrics for c in (m, f"val_{m}")]


def _preview_images(config, val: PairSource) -> tuple[np.ndarray, list[str]]:
    n = config.train.num_infer_images
    if config.infer.images_dir and Path(config.infer.images_dir).is_dir():
        files = list_images(config.infer.images_dir, config.where("infer", "images_dir"))[:n]
        images = [resize_image(read_image(f, config.model.image_channels), config.model.input_size) for f in files]
        return np.stack(images), [f.name for f in files]
    picks = list(range(min(n, len(val))))
    return np.stack([val.load(i)[0] for i in picks]), [val.pairs[i].image.name for i in picks]


def _folders(config, resume: bool) -> None:
    t = config.train
    protected = {"config folder": Path(config.base_dir), "training images": t.image_datapath,
                 "training masks": t.mask_datapath, "evaluation images": config.eval.image_datapath}
    for folder, key_name in ((t.model_dir, "model_dir"), (t.eval_dir, "eval_dir")):
        prepare_output_dir(folder, config.where("train", key_name), protected,
                           backup=t.create_backup, keep=resume)
    if t.epoch_change_infer:
        prepare_output_dir(t.epoch_change_infer_dir, config.where("train", "epoch_change_infer_dir"),
                           protected, backup=t.create_backup, keep=resume)


def _worker_outputs(config: Config) -> Config:
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


def _seed(seed: int, deterministic: bool) -> None:
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


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


def _check_resumable(config: Config, state: dict) -> None:
    diffs = signature_difference(state.get("model"), model_signature(config.model))
    if diffs:
        raise ConfigError(f"{config.where('train', 'resume')}: the interrupted run in {config.train.model_dir} "
                          f"was trained with {diffs}; restore those [model] values or set resume = False")


def training_splits(config: Config) -> list[Split]:
    """(train, validation, how) per model trained, following [train] validation and ensemble."""
    spec = sample_spec(config.model, config.mask)
    full = folder_source(Folders(*config.folders("train", "for training")), spec)
    validation = None
    if config.train.validation == "eval":
        validation = folder_source(Folders(*config.folders("eval", "for validation = \"eval\"")), spec)
    return member_sources(full, validation, split_options(config.train), lambda key: config.where("train", key))


def run_training(config: Config, verbose: str | int | None = None,
                 extra_callbacks: list[keras.callbacks.Callback] = ()) -> dict:
    """Train the [model] UNet (or [train] ensemble UNets) on [train] data; returns a summary of the run.

    verbose None shows Keras's progress bar on a terminal and one line per epoch otherwise;
    extra_callbacks run after the toolkit's own.
    """
    config = _worker_outputs(config)
    t = config.train
    with holding({config.where("train", "model_dir"): t.model_dir, config.where("train", "eval_dir"): t.eval_dir}):
        splits = training_splits(config)
        if t.ensemble == 1:
            train_src, val_src, _ = splits[0]
            return _train_one(config, train_src, val_src, verbose, extra_callbacks)
        return _train_ensemble(config, splits, verbose, extra_callbacks)


def _train_ensemble(config: Config, splits: list[Split], verbose: str | int | None, extra_callbacks) -> dict:
    """Train each member in model_dir/member_<k> with seed + k, then choose one threshold for their mean.

    With ensemble_folds each member has its own validation cells, which the others train on, so the
    threshold is chosen on the members' pooled predictions for their own validation cells.
    """
    t = config.train
    resume = t.resume and Path(t.model_dir).is_dir()
    _folders(config, resume=resume)
    if not resume:
        atomic_write_bytes(Path(t.model_dir) / Path(config.source).name, Path(config.source).read_bytes())
    runs = []
    configs = member_configs(config)
    for k, ((train_src, val_src, how), member_config) in enumerate(zip(splits, configs)):
        print(f"Ensemble member {k + 1} of {t.ensemble}: seed {t.seed + k}, base_filters "
              f"{member_config.model.base_filters}, {member_dir(t.model_dir, k)}")
        if t.ensemble_folds:
            print(describe_split(train_src.pairs, val_src.pairs, how))
        member = replace(t, model_dir=member_dir(t.model_dir, k), eval_dir=member_dir(t.eval_dir, k),
                         epoch_change_infer_dir=member_dir(t.epoch_change_infer_dir, k),
                         create_backup=False, select_threshold=False, ensemble=1)
        runs.append(_train_one(replace(member_config, train=member), train_src, val_src, verbose,
                               extra_callbacks, member=k))
    names = [Path(member_dir(t.model_dir, k)).name for k in range(t.ensemble)]
    members = [load_unet(c, f) for c, f in zip(configs, best_model_files(t.model_dir, names))]
    if t.ensemble_folds:
        pairs = [(member, val_src) for member, (_, val_src, _) in zip(members, splits)]
    else:
        pairs = [(average_models(members), splits[0][1])]
    keys = ("best_epoch", "best_val_loss", "epochs_run", "batch_size", "validation_batch_size")
    info = {
        **select_rule(config, pairs),
        "members": names,
        "member_runs": [{k: run.get(k) for k in keys} for run in runs],
        "model": model_signature(config.model), "backend": keras.backend.backend(),
        "config": str(Path(config.source).resolve()),
    }
    if t.ensemble_base_filters:
        info["member_base_filters"] = list(t.ensemble_base_filters)
    if t.ensemble_folds:
        info["member_validation"] = [how for _, _, how in splits]
        info["threshold_from"] = "each member's own validation cells (out of fold)"
    write_info(t.model_dir, info)
    print(f"Ensemble of {t.ensemble} in {t.model_dir}; evaluate and infer average the members")
    return info


def _train_one(config: Config, train_src: PairSource, val_src: PairSource,
               verbose: str | int | None, extra_callbacks, member: int = 0) -> dict:
    """One UNet, seeded with seed + member; the split is the same for every member."""
    t = config.train
    seed = t.seed + member
    _seed(seed, t.deterministic)
    state = load_state(t.model_dir) if t.resume else None
    if t.resume and state is None:
        print(f"[train] resume = True, but {t.model_dir} holds no interrupted run; starting afresh")
    if state is not None:
        _check_resumable(config, state)
    _folders(config, resume=state is not None)
    if state is None:
        atomic_write_bytes(Path(t.model_dir) / Path(config.source).name, Path(config.source).read_bytes())
    elif state.get("stopped") or state["epoch"] + 1 >= t.epochs:
        print(f"{t.model_dir} holds a finished run (best epoch {state.get('best_epoch')}); not training it again")
        return finish_training(config, val_src, state)

    with strategy_scope(t.distribution, config.where("train", "distribution")):
        if state is not None:
            model = keras.saving.load_model(str(Path(t.model_dir) / LAST_MODEL), safe_mode=True)
            print(f"Resuming after epoch {state['epoch']} from {Path(t.model_dir) / LAST_MODEL}")
        else:
            model = compiled_unet(config)
    start = 0 if state is None else state["epoch"] + 1
    history = HistoryWriter(t.eval_dir, _metric_columns(config), state.get("history") if state else None)
    training = TrainingState(t.model_dir, t.patience, t.learning_rate_reducer, t.reducer_factor,
                             t.reducer_patience, history, state, model_signature(config.model))
    callbacks = [EpochSeeds(seed), history, training]
    if config.model.ema_momentum is not None:
        callbacks.insert(0, AverageWeightsSwap(resumed=state is not None))
    if t.epoch_change_infer:
        images, names = _preview_images(config, val_src)
        callbacks.append(EpochChangeInfer(images, names, t.epoch_change_infer_dir))
    if t.tensorboard:
        callbacks.append(tensorboard_callback(config))
    callbacks += list(extra_callbacks)
    batch = t.batch_size if t.steps_per_epoch else training_batch_size(t.batch_size, len(train_src),
                                                                        t.min_steps_per_epoch)
    if batch != t.batch_size:
        steps = math.ceil(len(train_src) / t.batch_size)
        print(f"Batch size {batch}: {config.where('train', 'batch_size')} = {t.batch_size} gives {steps} "
              f"step{'s' if steps > 1 else ''} per epoch on {len(train_src)} images, fewer than "
              f"min_steps_per_epoch = {t.min_steps_per_epoch}")
    val_batch = validation_batch_size(config.model.loss, batch, config.model.input_size, t.validation_steps)
    training.state.update(batch_size=batch, validation_batch_size=val_batch)
    train_batches = SegmentationBatches(train_src, batch, shuffle=True, seed=seed,
                                        augment=augmentor(config), workers=t.workers,
                                        start_epoch=start, steps=t.steps_per_epoch)
    val_batches = SegmentationBatches(val_src, val_batch, workers=t.workers,
                                      steps=t.validation_steps)
    if config.generator.debug:
        save_batch_preview(train_batches, Path(t.eval_dir) / "augmented_batch.png")
    if verbose is None:
        verbose = "auto" if sys.stdout.isatty() else 2
    train_data, val_data = in_graph(train_batches, t.epochs), in_graph(val_batches)
    model.fit(train_batches if train_data is None else train_data,
              steps_per_epoch=None if train_data is None else len(train_batches),
              validation_data=val_batches if val_data is None else val_data, epochs=t.epochs, initial_epoch=start,
              shuffle=False, callbacks=callbacks, verbose=verbose)
    return finish_training(config, val_src, training.state)


def select_rule(config: Config, pairs: list[tuple[keras.Model, PairSource]]) -> dict:
    """The mask rule (threshold and clean-up) for the models on their validation cells, as model_info.json
    keys: the best validation pixel Dice of the masks after [postprocess] TTA and clean-up, the clean-ups
    set to "auto" chosen with the threshold. Without [train] select_threshold: threshold 0.5, "auto" off."""
    post = config.postprocess
    predictors = [(postprocess_predictor(model, post), source) for model, source in pairs]
    chosen = choose_rule(predictors if config.train.select_threshold else [], config.mask.threshold,
                         predict_batch_size(None, config.model.input_size), post.keep_largest,
                         post.fill_holes)
    rule = chosen.rule
    if chosen.dice is not None:
        for option, dice in chosen.options:
            print(f"  validation pixel Dice {dice:.4f} with {option.describe()}")
        print(f"Chosen on validation: {rule.describe()} (pixel Dice {chosen.dice:.4f})")
        best, best_dice = chosen.best_of_all()
        if best_dice - chosen.dice > COSTS_MORE_THAN_A_LITTLE:
            fixed = [k for k in ("keep_largest", "fill_holes") if getattr(post, k) != "auto"
                     and getattr(best, k) != getattr(rule, k)]
            settings = " and ".join(f"{k} = {getattr(post, k)}" for k in fixed)
            print(f"warning: {config.where('postprocess', fixed[0])}: {settings} gives validation pixel Dice "
                  f"{chosen.dice:.4f}, {best.describe()} would give {best_dice:.4f}; your setting is kept "
                  f"(\"auto\" lets validation decide)")
    info = {"threshold": rule.threshold, "keep_largest": rule.keep_largest, "fill_holes": rule.fill_holes,
            "validation_dice": chosen.dice}
    if chosen.options:
        info["validation_options"] = [{"keep_largest": o.keep_largest, "fill_holes": o.fill_holes,
                                       "threshold": o.threshold, "validation_dice": d} for o, d in chosen.options]
    return info


def finish_training(config: Config, val_src: PairSource, state: dict) -> dict:
    """Choose the threshold on validation with the best model (when select_threshold), write model_info.json."""
    t = config.train
    if not (Path(t.model_dir) / BEST_MODEL).exists():
        raise ModelError(f"{config.where('train', 'model_dir')}: training ended without a finite val_loss, "
                         "so no best model was saved; lower [model] learning_rate or check the masks")
    pairs = [(load_unet(config, Path(t.model_dir) / BEST_MODEL), val_src)] if t.select_threshold else []
    info = {
        **select_rule(config, pairs), "best_epoch": state.get("best_epoch"),
        "best_val_loss": state.get("best"), "epochs_run": state.get("epoch", -1) + 1,
        "batch_size": state.get("batch_size"), "validation_batch_size": state.get("validation_batch_size"),
        "model": model_signature(config.model), "backend": keras.backend.backend(),
        "config": str(Path(config.source).resolve()),
    }
    write_info(t.model_dir, info)
    print(f"Best model: {Path(t.model_dir) / BEST_MODEL} (epoch {state.get('best_epoch')}); "
          f"curves and CSVs in {t.eval_dir}")
    return info
