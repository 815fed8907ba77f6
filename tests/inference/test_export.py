"""Export without training: a tiny UNet saved as a best model, exported, and run by each runtime."""

import importlib.util
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from flexunet.cli import export_main
from flexunet.config import load_config
from flexunet.inference.export import parse_formats, run_export
from flexunet.inference.outputs import EXPORT_INFO as INFO_FILE
from flexunet.model.files import BEST_MODEL
from flexunet.model.record import ModelRecord, write_record
from flexunet.model.store import model_signature, unet_from_section

ONNX_MISSING = [p for p in ("tf2onnx", "onnx", "onnxruntime") if importlib.util.find_spec(p) is None]
needs_tf = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                              reason="SavedModel and tf2onnx export need the TensorFlow backend")
needs_onnx = pytest.mark.skipif(
    bool(ONNX_MISSING),
    reason=f"ONNX export packages not installed: {', '.join(ONNX_MISSING)} "
           "(pip install -r requirements-dev.txt)",
)

CONFIG = """[model]
image_width = 64
image_height = 64
num_layers = 3
base_filters = 4
dropout_rate = 0.0

[train]
model_dir = ./models
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A config whose model_dir holds a 'best model' with random weights and a threshold."""
    root = tmp_path_factory.mktemp("export")
    path = root / "train_eval_infer.config"
    path.write_text(CONFIG)
    config = load_config(path)
    keras.utils.set_random_seed(7)
    model = unet_from_section(config.model)
    Path(config.train.model_dir).mkdir()
    model.save(str(Path(config.train.model_dir) / BEST_MODEL))
    write_record(config.train.model_dir, ModelRecord(model=model_signature(config.model), threshold=0.4))
    x = np.random.default_rng(1).uniform(0, 255, (3, 64, 64, 3)).astype("float32")
    return config, x, model.predict(x, verbose=0)


def test_parse_formats_suggests_a_close_name():
    assert parse_formats(None) == (["keras", "savedmodel", "onnx"], False)
    assert parse_formats("onnx, keras,onnx") == (["onnx", "keras"], True)
    with pytest.raises(Exception, match="did you mean 'onnx'"):
        parse_formats("onx")


def test_keras_export_reloads_and_records_the_threshold(trained, tmp_path):
    config, x, expected = trained
    written = run_export(config, str(tmp_path / "out"), "keras")
    reloaded = keras.models.load_model(str(written["keras"]), compile=False)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, atol=1e-5)
    info = json.loads((tmp_path / "out" / INFO_FILE).read_text())
    assert info["threshold"] == pytest.approx(0.4)
    assert info["files"] == {"keras": "model.keras"}


@needs_tf
def test_savedmodel_reload_predicts_the_same(trained, tmp_path):
    import tensorflow as tf

    config, x, expected = trained
    written = run_export(config, str(tmp_path / "out"), "savedmodel")
    served = tf.saved_model.load(str(written["savedmodel"]))
    np.testing.assert_allclose(served.serve(x).numpy(), expected, atol=1e-5)


@needs_tf
@needs_onnx
def test_onnx_runs_in_onnxruntime_like_keras(trained, tmp_path):
    import onnxruntime

    config, x, expected = trained
    written = run_export(config, str(tmp_path / "out"), "onnx")
    session = onnxruntime.InferenceSession(str(written["onnx"]), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    got = session.run(None, {name: x})[0]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-4)
    one = session.run(None, {name: x[:1]})[0]
    np.testing.assert_allclose(one, expected[:1], atol=1e-4)


@needs_tf
@needs_onnx
def test_cli_exports_all_formats_to_the_default_folder(trained, capsys):
    config, _, _ = trained
    assert export_main([config.source]) == 0
    out = Path(config.train.model_dir) / "export"
    assert {p.name for p in out.iterdir()} >= {"model.keras", "saved_model", "model.onnx", INFO_FILE}
    assert "wrote onnx" in capsys.readouterr().out


def test_cli_errors_are_one_line(trained, tmp_path, capsys):
    config, _, _ = trained
    assert export_main([config.source, "--formats", "tflite"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --formats: unknown format 'tflite'") and "\n" not in err
    missing = tmp_path / "none.config"
    missing.write_text(CONFIG.replace("./models", "./nothing_here"))
    assert export_main([str(missing), "--formats", "keras"]) == 1
    assert "run training first" in capsys.readouterr().err


def test_output_folder_that_holds_the_model_is_refused(trained, capsys):
    config, _, _ = trained
    assert export_main([config.source, "--formats", "keras", "--output", config.base_dir]) == 1
    assert "error: export folder" in capsys.readouterr().err


def test_missing_onnx_packages_are_named(trained, tmp_path, monkeypatch, capsys):
    config, _, _ = trained
    monkeypatch.setattr("flexunet.inference.export._missing", lambda packages: list(packages))
    assert export_main([config.source, "--formats", "onnx", "--output", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "onnx export needs the packages" in err and "pip install 'flexunet[export]'" in err
    assert export_main([config.source, "--formats", "keras,onnx", "--output", str(tmp_path / "b")]) == 1
    assert export_main([config.source, "--output", str(tmp_path / "c")]) == 0
    assert "skipped onnx" in capsys.readouterr().out
    assert not (tmp_path / "c" / "model.onnx").exists()
