"""TrainingState: checkpoints and counters per epoch; a non-finite loss stops the run cleanly."""

import json
import math

import pytest

from flexunet.model.compile import compile_unet
from flexunet.model.files import BEST_MODEL, LAST_MODEL, STATE_FILE
from flexunet.model.unet import create_unet
from flexunet.training.callbacks import HistoryWriter, TrainingState


@pytest.fixture
def state(tmp_path):
    model = compile_unet(create_unet((32, 32), base_filters=2, num_layers=2), "binary_crossentropy", ())
    history = HistoryWriter(str(tmp_path / "eval"), ["loss", "val_loss"])
    cb = TrainingState(str(tmp_path / "models"), patience=2, reducer=False, reducer_factor=0.5,
                       reducer_patience=1, history=history)
    (tmp_path / "models").mkdir()
    cb.set_model(model)
    return cb, tmp_path / "models"


def test_finite_epoch_saves_last_best_and_state(state):
    cb, folder = state
    cb.on_epoch_end(0, {"loss": 0.7, "val_loss": 0.6})
    assert (folder / LAST_MODEL).exists() and (folder / BEST_MODEL).exists()
    saved = json.loads((folder / STATE_FILE).read_text())
    assert (saved["epoch"], saved["best"], saved["best_epoch"], saved["wait"]) == (0, 0.6, 0, 0)
    assert not cb.model.stop_training


@pytest.mark.parametrize("loss", [math.nan, math.inf, -math.inf])
def test_non_finite_loss_stops_and_keeps_the_last_finite_files(state, capsys, loss):
    cb, folder = state
    cb.on_epoch_end(0, {"loss": 0.7, "val_loss": 0.6})
    before = (folder / STATE_FILE).read_text()
    cb.on_epoch_end(1, {"loss": loss, "val_loss": loss})
    assert cb.model.stop_training
    assert (folder / STATE_FILE).read_text() == before
    assert f"Epoch 1: the training loss is {loss}; stopping" in capsys.readouterr().out


def test_patience_stops_after_that_many_epochs_without_improvement(state):
    cb, _ = state
    for epoch, val in enumerate([0.5, 0.6, 0.7]):
        cb.on_epoch_end(epoch, {"loss": 0.5, "val_loss": val})
    assert cb.model.stop_training and cb.state["stopped"] and cb.state["wait"] == 2


@pytest.fixture
def early(tmp_path):
    """A TrainingState that writes last_model.keras while validation runs (save_early), LR reducer on."""
    model = compile_unet(create_unet((32, 32), base_filters=2, num_layers=2), "binary_crossentropy", ())
    history = HistoryWriter(str(tmp_path / "eval"), ["loss", "val_loss"])
    cb = TrainingState(str(tmp_path / "models"), patience=0, reducer=True, reducer_factor=0.5,
                       reducer_patience=1, history=history, save_early=True)
    (tmp_path / "models").mkdir()
    cb.set_model(model)
    return cb, tmp_path / "models"


def saved_learning_rate(path) -> float:
    import keras

    return float(keras.ops.convert_to_numpy(keras.saving.load_model(str(path)).optimizer.learning_rate))


def test_save_early_puts_the_copy_written_during_validation_in_place_at_the_epoch_end(early):
    cb, folder = early
    cb.on_test_begin()
    assert not (folder / LAST_MODEL).exists()
    cb.on_epoch_end(0, {"loss": 0.7, "val_loss": 0.6})
    assert sorted(p.name for p in folder.iterdir()) == sorted([LAST_MODEL, BEST_MODEL, STATE_FILE])
    assert saved_learning_rate(folder / LAST_MODEL) == pytest.approx(1e-4)


def test_save_early_saves_again_when_the_epoch_end_lowers_the_learning_rate(early):
    cb, folder = early
    cb.on_test_begin()
    cb.on_epoch_end(0, {"loss": 0.7, "val_loss": 0.6})
    cb.on_test_begin()
    cb.on_epoch_end(1, {"loss": 0.7, "val_loss": 0.65})
    assert saved_learning_rate(folder / LAST_MODEL) == pytest.approx(5e-5)
    assert json.loads((folder / STATE_FILE).read_text())["epoch"] == 1


@pytest.mark.parametrize("loss", [math.nan, math.inf])
def test_save_early_discards_the_copy_of_a_non_finite_epoch(early, loss):
    cb, folder = early
    cb.on_test_begin()
    cb.on_epoch_end(0, {"loss": 0.7, "val_loss": 0.6})
    before = (folder / LAST_MODEL).read_bytes()
    cb.on_test_begin()
    cb.on_epoch_end(1, {"loss": loss, "val_loss": loss})
    assert (folder / LAST_MODEL).read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == sorted([LAST_MODEL, BEST_MODEL, STATE_FILE])
