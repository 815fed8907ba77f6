"""[train] ensemble: members trained with seed + k on one split; loading averages them everywhere."""

import json

import keras
import numpy as np
import pytest

from conftest import make_tiny_dataset, tiny_model_section, write_config
from flexunet.config import load_config
from flexunet.errors import ConfigError, ModelError
from flexunet.evaluate import run_evaluation
from flexunet.model import create_unet
from flexunet.modelio import average_models, load_trained, member_dir
from flexunet.train import run_training


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("ensemble") / "data")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("ensemble_run")
    train = {"epochs": 2, "batch_size": 4, "patience": 0, "ensemble": 2, "validation_split": 0.25,
             "image_datapath": f'"{data.images}"', "mask_datapath": f'"{data.masks}"'}
    evaluate = {"image_datapath": f'"{data.images}"', "mask_datapath": f'"{data.masks}"',
                "output_dir": '"./eval_output"'}
    config = load_config(write_config(folder, model=tiny_model_section(), train=train, eval=evaluate))
    return folder, config, run_training(config, verbose=0)


def test_average_models_is_the_mean_and_round_trips(tmp_path):
    members = [create_unet((16, 16), base_filters=4, num_layers=3) for _ in range(3)]
    x = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3)).astype("float32")
    expected = np.mean([m.predict(x, verbose=0) for m in members], axis=0)
    model = average_models(members)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-6)
    assert [layer.name for layer in model.layers][1:] == ["member_0", "member_1", "member_2", "average"]
    model.save(tmp_path / "ensemble.keras")
    again = keras.saving.load_model(tmp_path / "ensemble.keras", safe_mode=True)
    np.testing.assert_allclose(again.predict(x, verbose=0), expected, atol=1e-6)


def test_members_have_their_own_folders_seeds_and_curves(trained):
    folder, _, info = trained
    assert info["members"] == ["member_0", "member_1"]
    assert [run["epochs_run"] for run in info["member_runs"]] == [2, 2]
    for k in range(2):
        assert (folder / "models" / f"member_{k}" / "best_model.keras").is_file()
        assert (folder / "eval" / f"member_{k}" / "history.json").is_file()
    assert json.loads((folder / "models" / "model_info.json").read_text())["members"] == info["members"]
    assert (folder / "models" / "train_eval_infer.config").is_file()
    w0, w1 = (keras.saving.load_model(folder / "models" / f"member_{k}" / "best_model.keras",
                                      safe_mode=True).get_weights()[0] for k in range(2))
    assert not np.allclose(w0, w1)


def test_load_trained_averages_the_members(trained):
    folder, config, info = trained
    model, threshold = load_trained(config)
    assert model.name == "ensemble" and threshold == info["threshold"]
    x = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3)).astype("float32")
    members = [keras.saving.load_model(folder / "models" / f"member_{k}" / "best_model.keras", safe_mode=True)
               for k in range(2)]
    expected = np.mean([m.predict(x, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)


def test_evaluation_uses_the_ensemble(trained):
    folder, config, _ = trained
    summary = run_evaluation(config)
    assert 0.0 <= summary["pixel_dice"] <= 1.0
    assert (folder / "eval_output" / "per_image.csv").is_file()


def test_a_missing_member_is_named(trained, tmp_path):
    folder, config, _ = trained
    info = json.loads((folder / "models" / "model_info.json").read_text())
    (tmp_path / "member_0").mkdir()
    (tmp_path / "model_info.json").write_text(json.dumps(info))
    from dataclasses import replace
    broken = replace(config, train=replace(config.train, model_dir=str(tmp_path)))
    with pytest.raises(ModelError, match=r"\[train\] model_dir in .*: no trained model .*member_0.best_model"
                                         r"\.keras; run training first"):
        load_trained(broken)


@pytest.mark.parametrize("folder, index, expected", [
    ("./models", 0, "models/member_0"),
    ("/runs/eval", 3, "/runs/eval/member_3"),
])
def test_member_dir(folder, index, expected):
    assert member_dir(folder, index) == expected


def test_ensemble_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match=r"\[train\] ensemble in .*: expected a positive int, got 0"):
        load_config(write_config(tmp_path, train={"ensemble": 0}))


def test_resume_keeps_finished_members_and_trains_missing_ones(trained, tmp_path):
    """Resuming an ensemble whose member_1 never started trains member_1 alone."""
    import shutil
    from dataclasses import replace

    folder, config, info = trained
    shutil.copytree(folder / "models", tmp_path / "models")
    shutil.copytree(folder / "eval", tmp_path / "eval")
    shutil.rmtree(tmp_path / "models" / "member_1")
    before = (tmp_path / "models" / "member_0" / "best_model.keras").stat().st_mtime_ns
    t = replace(config.train, model_dir=str(tmp_path / "models"), eval_dir=str(tmp_path / "eval"), resume=True)
    again = run_training(replace(config, train=t), verbose=0)
    assert (tmp_path / "models" / "member_0" / "best_model.keras").stat().st_mtime_ns == before
    assert (tmp_path / "models" / "member_1" / "best_model.keras").is_file()
    assert again["member_runs"] == info["member_runs"]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf2onnx export needs the TensorFlow backend")
def test_an_ensemble_exports_to_onnx_as_one_model(tmp_path):
    pytest.importorskip("tf2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from flexunet.callbacks import BEST_MODEL
    from flexunet.export import run_export
    from flexunet.modelio import model_signature, unet_from_section, write_info

    config = load_config(write_config(tmp_path, model=tiny_model_section()))
    models = []
    for k in range(2):
        keras.utils.set_random_seed(k)
        models.append(unet_from_section(config.model))
        (tmp_path / "models" / f"member_{k}").mkdir(parents=True)
        models[-1].save(tmp_path / "models" / f"member_{k}" / BEST_MODEL)
    write_info(config.train.model_dir, {"model": model_signature(config.model), "threshold": 0.45,
                                        "members": ["member_0", "member_1"]})
    x = np.random.default_rng(2).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    expected = np.mean([m.predict(x, verbose=0) for m in models], axis=0)
    written = run_export(config, str(tmp_path / "out"), "onnx")
    session = onnxruntime.InferenceSession(str(written["onnx"]), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
