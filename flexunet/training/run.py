"""The train command: one UNet or an ensemble, each through setup, fit and finish."""

import sys
from dataclasses import replace
from pathlib import Path

import keras

from flexunet.config import Config
from flexunet.data.checks import describe_split
from flexunet.data.dataset import PairSource, SegmentationBatches
from flexunet.data.graph import in_graph
from flexunet.data.splits import Split
from flexunet.locks import holding
from flexunet.model.files import LAST_MODEL, best_model_files, member_dir
from flexunet.model.record import ModelRecord, write_record
from flexunet.model.store import average_models, compiled_unet, load_unet, member_configs
from flexunet.training.callbacks import CtrlC
from flexunet.training.distribute import strategy_scope
from flexunet.training.finish import finish_training, select_rule
from flexunet.training.setup import (
    augmentor,
    batch_sizes,
    copy_config,
    prepare_folders,
    preview_path,
    resume_state,
    run_callbacks,
    save_batch_preview,
    seed_everything,
    training_splits,
    worker_outputs,
)
from flexunet.training.state import TrainState


def run_training(config: Config, verbose: str | int | None = None,
                 extra_callbacks: list[keras.callbacks.Callback] = ()) -> ModelRecord:
    """Train the [model] UNet (or [train] ensemble UNets) on [train] data; returns the model's record.

    verbose None shows Keras's progress bar on a terminal and one line per epoch otherwise;
    extra_callbacks run after the toolkit's own.
    """
    config = worker_outputs(config)
    t = config.train
    with holding({config.where("train", "model_dir"): t.model_dir, config.where("train", "eval_dir"): t.eval_dir}):
        splits = training_splits(config)
        if t.ensemble == 1:
            train_src, val_src, _ = splits[0]
            return train_one(config, train_src, val_src, verbose, extra_callbacks)
        return train_ensemble(config, splits, verbose, extra_callbacks)


def train_ensemble(config: Config, splits: list[Split], verbose: str | int | None, extra_callbacks) -> ModelRecord:
    """Train each member in model_dir/member_<k> with seed + k, then choose one threshold for their mean.

    With ensemble_folds each member has its own validation cells, which the others train on, so the
    threshold is chosen on the members' pooled predictions for their own validation cells.
    """
    t = config.train
    resume = t.resume and Path(t.model_dir).is_dir()
    prepare_folders(config, resume=resume)
    if not resume:
        copy_config(config)
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
        runs.append(train_one(replace(member_config, train=member), train_src, val_src, verbose,
                              extra_callbacks, member=k))
    names = tuple(Path(member_dir(t.model_dir, k)).name for k in range(t.ensemble))
    members = [load_unet(c, f) for c, f in zip(configs, best_model_files(t.model_dir, names))]
    if t.ensemble_folds:
        pairs = [(member, val_src) for member, (_, val_src, _) in zip(members, splits)]
    else:
        pairs = [(average_models(members), splits[0][1])]
    record = replace(select_rule(config, pairs), members=names, member_runs=tuple(r.run for r in runs),
                     member_base_filters=tuple(t.ensemble_base_filters))
    if t.ensemble_folds:
        record = replace(record, member_validation=tuple(how for _, _, how in splits),
                         threshold_from="each member's own validation cells (out of fold)")
    write_record(t.model_dir, record)
    print(f"Ensemble of {t.ensemble} in {t.model_dir}; evaluate and infer average the members")
    return record


def train_one(config: Config, train_src: PairSource, val_src: PairSource,
              verbose: str | int | None, extra_callbacks, member: int = 0) -> ModelRecord:
    """One UNet, seeded with seed + member: resumed, or started afresh in new folders, fitted, finished."""
    t = config.train
    seed = t.seed + member
    seed_everything(seed, t.deterministic)
    state = resume_state(config)
    prepare_folders(config, resume=state is not None)
    if state is None:
        copy_config(config)
    elif state.finished(t.epochs):
        print(f"{t.model_dir} holds a finished run (best epoch {state.best_epoch}); not training it again")
        return finish_training(config, val_src, state)
    model = start_model(config, state)
    callbacks, training = run_callbacks(config, seed, state, val_src, list(extra_callbacks))
    batch, val_batch = batch_sizes(config, len(train_src))
    training.state = training.state.updated(batch_size=batch, validation_batch_size=val_batch)
    fit(config, model, train_src, val_src, (batch, val_batch), seed, state, callbacks, verbose)
    return finish_training(config, val_src, training.state)


def start_model(config: Config, state: TrainState | None) -> keras.Model:
    """The compiled model to fit: the interrupted run's last model, or a new one ([train] distribution)."""
    t = config.train
    with strategy_scope(t.distribution, config.where("train", "distribution")):
        if state is None:
            return compiled_unet(config)
        model = keras.saving.load_model(str(Path(t.model_dir) / LAST_MODEL), safe_mode=True)
    print(f"Resuming after epoch {state.epoch} from {Path(t.model_dir) / LAST_MODEL}")
    return model


def fit(config: Config, model: keras.Model, train_src: PairSource, val_src: PairSource, batches: tuple[int, int],
        seed: int, state: TrainState | None, callbacks: list, verbose: str | int | None) -> None:
    """model.fit from the first epoch not run yet: batches from Python (augmentation, streaming) or, on
    TensorFlow with the data in memory, the same batches through an in-graph pipeline."""
    t = config.train
    start = 0 if state is None else state.epoch + 1
    train_batches = SegmentationBatches(train_src, batches[0], shuffle=True, seed=seed, augment=augmentor(config),
                                        workers=t.workers, start_epoch=start, steps=t.steps_per_epoch)
    val_batches = SegmentationBatches(val_src, batches[1], workers=t.workers, steps=t.validation_steps)
    if config.generator.debug:
        save_batch_preview(train_batches, preview_path(config))
    if verbose is None:
        verbose = "auto" if sys.stdout.isatty() else 2
    train_data, val_data = in_graph(train_batches, t.epochs), in_graph(val_batches)
    with CtrlC().installed() as ctrl_c:
        model.fit(train_batches if train_data is None else train_data,
                  steps_per_epoch=None if train_data is None else len(train_batches),
                  validation_data=val_batches if val_data is None else val_data, epochs=t.epochs,
                  initial_epoch=start, shuffle=False, callbacks=[*callbacks, ctrl_c], verbose=verbose)

