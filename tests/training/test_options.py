"""Optional training features do what their keys say: previews, TensorBoard, LR reducer, streaming."""

import json

import keras
import pytest

from conftest import make_tiny_dataset, tiny_model_section, write_config
from flexunet.config import load_config
from flexunet.data.dataset import to_batch
from flexunet.errors import ConfigError, ModelError
from flexunet.model.files import LAST_MODEL
from flexunet.training.run import run_training
from flexunet.training.setup import training_batch_size, training_splits, validation_batch_size
from flexunet.training.state import TrainState


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("options") / "data")


def train(tmp_path, data, **train_keys):
    keys = {"epochs": 3, "batch_size": 4, "patience": 0, "image_datapath": f'"{data.images}"',
            "mask_datapath": f'"{data.masks}"', "validation_split": 0.25, **train_keys}
    config = load_config(write_config(tmp_path, model=tiny_model_section(), train=keys,
                                      generator={"augmentation": True, "debug": True}))
    info = run_training(config, verbose=0)
    return config, info, json.loads((tmp_path / "eval" / "history.json").read_text())


def test_previews_tensorboard_and_batch_picture(tmp_path, data):
    _, info, history = train(tmp_path, data, epoch_change_infer=True, num_infer_images=2, tensorboard=True)
    assert sorted(p.name for p in (tmp_path / "epoch_change_infer").glob("*.png")) == [
        "epoch_0000.png", "epoch_0001.png", "epoch_0002.png"]
    assert any((tmp_path / "eval" / "tensorboard").rglob("events.out.tfevents.*"))
    assert (tmp_path / "eval" / "augmented_batch.png").is_file()
    assert history["epoch"] == [0, 1, 2] and len(history["val_iou_coef"]) == 3
    assert 0.05 <= info.threshold <= 0.95 and info.run.epochs_run == 3


def test_learning_rate_reducer_halves_the_rate_on_a_plateau(tmp_path, data):
    """A rate too small to move float32 weights keeps val_loss flat: every epoch after the first
    is a plateau, so with reducer_patience 1 the rate halves after each of them."""
    keys = {"epochs": 4, "batch_size": 4, "patience": 0, "image_datapath": f'"{data.images}"',
            "mask_datapath": f'"{data.masks}"', "learning_rate_reducer": True, "reducer_factor": 0.5,
            "reducer_patience": 1}
    config = load_config(write_config(tmp_path, model=tiny_model_section(learning_rate=1e-30, dropout_rate=0.0),
                                      train=keys))
    run_training(config, verbose=0)
    history = json.loads((tmp_path / "eval" / "history.json").read_text())
    assert len(set(history["val_loss"])) == 1
    assert history["learning_rate"] == pytest.approx([1e-30, 1e-30, 0.5e-30, 0.25e-30], rel=1e-5)


def test_metric_columns_default_to_each_model_metric_and_its_val(tmp_path, data):
    train(tmp_path, data, epochs=1)
    header = (tmp_path / "eval" / "train_metrics.csv").read_text().splitlines()[0]
    assert header == "epoch,iou_coef,val_iou_coef"


def test_streaming_and_in_memory_training_agree(tmp_path, data):
    _, _, streamed = train(tmp_path / "stream", data, epochs=1, in_memory=False, seed=5)
    _, _, cached = train(tmp_path / "memory", data, epochs=1, in_memory=True, seed=5)
    assert streamed["loss"] == cached["loss"] and streamed["val_loss"] == cached["val_loss"]


def test_weight_averaging_resumes_exactly(tmp_path, data):
    """With [model] ema_momentum, 2 epochs + resume to 4 equals 4 epochs straight."""
    def run(folder, epochs, resume):
        keys = {"epochs": epochs, "batch_size": 4, "patience": 0, "image_datapath": f'"{data.images}"',
                "mask_datapath": f'"{data.masks}"', "validation_split": 0.25, "resume": resume}
        config = load_config(write_config(folder, model=tiny_model_section(ema_momentum=0.9), train=keys))
        run_training(config, verbose=0)
        return json.loads((folder / "eval" / "history.json").read_text())

    straight = run(tmp_path / "straight", 4, False)
    run(tmp_path / "resumed", 2, False)
    resumed = run(tmp_path / "resumed", 4, True)
    assert resumed["epoch"] == [0, 1, 2, 3]
    assert resumed["loss"] == straight["loss"] and resumed["val_loss"] == straight["val_loss"]


def test_resume_with_another_architecture_is_refused(tmp_path, data):
    keys = {"epochs": 1, "batch_size": 4, "image_datapath": f'"{data.images}"', "mask_datapath": f'"{data.masks}"'}
    run_training(load_config(write_config(tmp_path, model=tiny_model_section(), train=keys)), verbose=0)
    changed = load_config(write_config(tmp_path, model=tiny_model_section(base_filters=8),
                                       train={**keys, "epochs": 2, "resume": True}))
    with pytest.raises(ConfigError, match=r"\[train\] resume in .*: the interrupted run in .* was trained with "
                                          r"base_filters = 4 \(config says 8\)"):
        run_training(changed, verbose=0)


def test_a_run_without_any_finite_val_loss_says_so(tmp_path, data):
    """When no epoch had a finite val_loss, no best model exists: finish_training says why."""
    from flexunet.training.finish import finish_training

    keys = {"epochs": 1, "batch_size": 4, "image_datapath": f'"{data.images}"', "mask_datapath": f'"{data.masks}"'}
    config = load_config(write_config(tmp_path, model=tiny_model_section(), train=keys))
    (tmp_path / "models").mkdir()
    with pytest.raises(ModelError, match=r"\[train\] model_dir in .*: training ended without a finite val_loss"):
        finish_training(config, training_splits(config)[0][1], TrainState())


@pytest.mark.parametrize("batch, images, min_steps, expected", [
    (16, 30, None, 16),     # off: always batch_size
    (16, 30, 8, 4),         # 16 and 8 give 2 and 4 steps; 4 gives 8
    (16, 1300, 8, 16),      # Herlev: 82 steps at 16, unchanged
    (16, 128, 8, 16),       # exactly 8 steps
    (16, 127, 8, 16),       # ceil(127 / 16) = 8
    (16, 5, 8, 2),          # never below 2, even with too few steps
    (5, 12, 8, 2),          # 5 -> 2 (halved down)
    (1, 3, 8, 1),           # a batch of 1 stays 1
    (4, 4, 50, 2),
])
def test_training_batch_size_halves_until_an_epoch_has_min_steps(batch, images, min_steps, expected):
    assert training_batch_size(batch, images, min_steps) == expected


def test_min_steps_per_epoch_lowers_the_batch_and_says_so(tmp_path, data, capsys):
    _, info, history = train(tmp_path, data, epochs=1, batch_size=16, min_steps_per_epoch=3)
    out = capsys.readouterr().out
    assert "Batch size 4: [train] batch_size in" in out and "= 16 gives 1 step per epoch on 16 images" in out
    assert info.run.batch_size == 4


@pytest.mark.parametrize("loss, batch, size, steps, expected", [
    ("bce_iou_loss", 4, (128, 128), None, 64),      # per-image loss: the prediction batch
    ("binary_crossentropy", 4, (64, 64), None, 256),
    ("bce_iou_loss", 128, (128, 128), None, 128),   # never below batch_size
    ("bce_iou_loss", 2, (512, 512), None, 4),
    ("bce_iou_loss", 4, (128, 128), 10, 4),         # validation_steps counts steps of batch_size
    ("bce_dice_loss", 16, (128, 128), None, 16),    # pooled over the batch: as in training
    ("dice_loss", 4, (128, 128), None, 4),
    ("cce_dice_loss", 16, (128, 128), None, 16),
    ("categorical_crossentropy", 16, (128, 128), None, 64),
])
def test_validation_batch_size(loss, batch, size, steps, expected):
    assert validation_batch_size(loss, batch, size, steps) == expected


@pytest.mark.parametrize("loss, val_batch", [("bce_iou_loss", 256), ("bce_dice_loss", 4)])
def test_val_loss_is_the_loss_at_the_training_batch(tmp_path, data, loss, val_batch):
    """Validating at a larger batch (per-image losses) leaves val_loss what it is at batch_size."""
    keys = {"epochs": 1, "batch_size": 4, "patience": 0, "image_datapath": f'"{data.images}"',
            "mask_datapath": f'"{data.masks}"', "validation_split": 0.25}
    config = load_config(write_config(tmp_path, model=tiny_model_section(loss=loss), train=keys))
    info = run_training(config, verbose=0)
    assert (info.run.batch_size, info.run.validation_batch_size) == (4, val_batch)
    val_src = training_splits(config)[0][1]
    images, masks = to_batch(list(val_src.images), list(val_src.masks))
    model = keras.saving.load_model(str(tmp_path / "models" / LAST_MODEL))
    at_training_batch = model.evaluate(images, masks, batch_size=4, verbose=0, return_dict=True)["loss"]
    history = json.loads((tmp_path / "eval" / "history.json").read_text())
    assert history["val_loss"][-1] == pytest.approx(at_training_batch, rel=1e-4)
