"""TrainingState: checkpoints and counters per epoch; a non-finite loss stops the run cleanly."""

import math

import pytest

from flexunet.model.compile import compile_unet
from flexunet.model.files import BEST_MODEL, LAST_MODEL, STATE_FILE
from flexunet.model.unet import create_unet
from flexunet.training.callbacks import HistoryWriter, TrainingState
from flexunet.training.state import TrainState


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
    saved = TrainState.from_json((folder / STATE_FILE).read_text())
    assert (saved.epoch, saved.best, saved.best_epoch, saved.wait) == (0, 0.6, 0, 0)
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
    assert cb.model.stop_training and cb.state.stopped and cb.state.wait == 2
