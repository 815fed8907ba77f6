"""After fit: the mask rule chosen on validation, and the model's record written to model_dir."""

from dataclasses import replace
from pathlib import Path

import keras

from flexunet.config import Config
from flexunet.data.cells import truth_cells
from flexunet.data.dataset import PairSource
from flexunet.errors import ModelError
from flexunet.inference.predict import postprocess_predictor, predict_batch_size
from flexunet.model.files import BEST_MODEL
from flexunet.model.record import ModelRecord, RuleOption, TrainingRun, write_record
from flexunet.model.store import load_unet, model_signature
from flexunet.training.cell_selection import choose_cell_rule, rule_text
from flexunet.training.selection import COSTS_MORE_THAN_A_LITTLE, choose_rule
from flexunet.training.state import TrainState


def select_rule(config: Config, pairs: list[tuple[keras.Model, PairSource]]) -> ModelRecord:
    """A record holding the mask rule (threshold and clean-up) for the models on their validation cells:
    the best validation pixel Dice of the masks after [postprocess] TTA and clean-up, the clean-ups set to
    "auto" chosen with the threshold. Without [train] select_threshold: threshold 0.5, "auto" off. A
    cells head's rule is chosen channel by channel (choose_cell_rule)."""
    if config.model.head == "cells":
        return select_cell_rule(config, pairs)
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
    options = tuple(RuleOption(o.keep_largest, o.fill_holes, o.threshold, d) for o, d in chosen.options)
    return ModelRecord(threshold=rule.threshold, keep_largest=rule.keep_largest, fill_holes=rule.fill_holes,
                       validation_dice=chosen.dice, validation_options=options,
                       model=model_signature(config.model), backend=keras.backend.backend(),
                       config=str(Path(config.source).resolve()))


def select_cell_rule(config: Config, pairs: list[tuple[keras.Model, PairSource]]) -> ModelRecord:
    """A record holding the cells head's rule chosen on the validation cells (when select_threshold)."""
    chosen = [(postprocess_predictor(model, config.postprocess), source,
               truth_cells(source.pairs, config.model.input_size)) for model, source in pairs]
    rule = choose_cell_rule(chosen if config.train.select_threshold else [],
                            predict_batch_size(None, config.model.input_size))
    scores = dict(rule.validation)
    dice = (scores["cell_dice"] + scores["nucleus_dice"]) / 2 if scores else None
    if scores:
        print(f"Chosen on validation: {rule_text(rule)}")
    return ModelRecord(validation_dice=dice, cells=rule, model=model_signature(config.model),
                       backend=keras.backend.backend(), config=str(Path(config.source).resolve()))


def training_run(state: TrainState) -> TrainingRun:
    """What a record keeps of a run's state."""
    return TrainingRun(best_epoch=state.best_epoch, best_val_loss=state.best, epochs_run=state.epoch + 1,
                       batch_size=state.batch_size, validation_batch_size=state.validation_batch_size)


def finish_training(config: Config, val_src: PairSource, state: TrainState) -> ModelRecord:
    """Choose the mask rule on validation with the best model (when select_threshold); write and return the
    model's record."""
    t = config.train
    if not (Path(t.model_dir) / BEST_MODEL).exists():
        raise ModelError(f"{config.where('train', 'model_dir')}: training ended without a finite val_loss, "
                         "so no best model was saved; lower [model] learning_rate or check the masks")
    pairs = [(load_unet(config, Path(t.model_dir) / BEST_MODEL), val_src)] if t.select_threshold else []
    record = replace(select_rule(config, pairs), run=training_run(state))
    write_record(t.model_dir, record)
    print(f"Best model: {Path(t.model_dir) / BEST_MODEL} (epoch {state.best_epoch}); "
          f"curves and CSVs in {t.eval_dir}")
    return record
