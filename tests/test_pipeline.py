"""One tiny end-to-end run: train -> evaluate -> infer -> tiled infer, then backups and a JAX run.

The model is 64x64 with 3 levels and 4 base filters, trained for 2 epochs on 24 synthetic images,
so the whole module takes seconds of CPU; it checks files, names, sizes and formats, not accuracy.
"""

import csv
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import flexunet.training.setup
from flexunet.evaluation.scores import PER_IMAGE_COLUMNS
from flexunet.fsutil import OWNER_MARK
from flexunet.inference.postprocess import configured_rule
from flexunet.model.files import BEST_MODEL
from flexunet.model.record import read_record
from flexunet.model.store import load_trained
from flexunet.training.callbacks import TrainingState

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# name -> (width, height, PIL mode): sizes other than the model's 64x64 on purpose
INPUTS = {"big.bmp": (100, 80, "RGB"), "tall.png": (50, 70, "L"), "same.jpg": (64, 64, "RGB"),
          "wide.JPG": (130, 40, "RGB")}


def write_inputs(folder: Path) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    for name, (w, h, mode) in INPUTS.items():
        shape = (h, w) if mode == "L" else (h, w, 3)
        array = rng.integers(150, 230, shape, dtype=np.uint8)
        array[h // 3: h // 2, w // 3: w // 2] = 60                      # a dark blob
        Image.fromarray(array, mode).save(folder / name)
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "Thumbs.db").write_bytes(b"\0\1")


def snapshot(folder: Path) -> dict:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


class RecordingState(TrainingState):
    """TrainingState that also keeps the in-memory model's predictions at each new best epoch."""

    probe = None
    best_predictions = None

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.state.best_epoch == epoch:
            RecordingState.best_predictions = self.model.predict(RecordingState.probe, verbose=0)


@pytest.fixture(scope="module")
def project(tmp_path_factory, write_config, make_tiny_dataset, tiny_model_section):
    root = tmp_path_factory.mktemp("pipeline") / "project"
    data = make_tiny_dataset(root / "data")
    write_inputs(root / "mini_test")
    train = {"epochs": 2, "batch_size": 4, "patience": 10, "metrics": ["iou_coef", "val_iou_coef"],
             "model_dir": '"./models"', "eval_dir": "./eval", "image_datapath": "./data/images",
             "mask_datapath": "./data/masks", "seed": 137, "create_backup": False}
    sections = dict(
        model=tiny_model_section(), train=train,
        eval={"image_datapath": "./data/images", "mask_datapath": "./data/masks",
              "output_dir": "./eval_output"},
        infer={"images_dir": "./mini_test", "output_dir": "./test_output",
               "merged_dir": "./test_output_merged"},
        tiledinfer={"images_dir": "./mini_test", "output_dir": "./tiled_test_output",
                    "overlapping": 8},
        mask={"blur": True, "binarize": True, "threshold": 60},
    )
    config = write_config(root, **sections)
    backup_config = write_config(root, name="backup.config", **{
        **sections, "train": {**train, "epochs": 1, "create_backup": True}})
    return root, config, backup_config, data


@pytest.fixture(scope="module")
def pipeline(project):
    """Train, evaluate, infer and tile-infer once through the seed-compatible TensorflowUNet class."""
    from TensorflowUNet import TensorflowUNet

    root, config_path, _, data = project
    RecordingState.probe = np.stack([np.asarray(Image.open(data.images / n)) for n in data.names[:3]]
                                    ).astype(np.float32)
    before = snapshot(root / "mini_test")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(flexunet.training.setup, "TrainingState", RecordingState)
        unet = TensorflowUNet(str(config_path))
        info = unet.train()
    results = {"info": info, "unet": unet, "best_predictions": RecordingState.best_predictions,
               "best_sha": hashlib.sha256((root / "models" / BEST_MODEL).read_bytes()).hexdigest()}
    results["evaluation"] = unet.evaluate()
    results["masks"] = unet.infer()
    results["after_infer"] = snapshot(root / "mini_test")
    results["tiled_masks"] = unet.infer_tiles()
    results["after_tiled"] = snapshot(root / "mini_test")
    results["before"] = before
    return results


def read_csv_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return [[cell.strip() for cell in row] for row in csv.reader(handle)]


def test_training_writes_models_and_curves(project, pipeline):
    root, config_path, _, _ = project
    models, ev = root / "models", root / "eval"
    for name in (BEST_MODEL, "model_info.json", "train_eval_infer.config"):
        assert (models / name).is_file(), name
    assert (models / "train_eval_infer.config").read_bytes() == config_path.read_bytes()
    assert (models / OWNER_MARK).exists() and (ev / OWNER_MARK).exists()
    for png in ("train_losses.png", "train_metrics.png"):
        assert (ev / png).read_bytes()[:8] == PNG_MAGIC, png


def test_train_losses_csv(project, pipeline):
    root = project[0]
    text = (root / "eval" / "train_losses.csv").read_text()
    lines = text.splitlines()
    assert lines[0] == "epoch, loss, val_loss"
    assert len(lines) == 1 + 2
    for epoch, line in enumerate(lines[1:]):
        assert re.fullmatch(rf"{epoch}, \d+\.\d{{4}}, \d+\.\d{{4}}", line), line


def test_train_metrics_csv_has_the_train_metrics_columns(project, pipeline):
    rows = read_csv_rows(project[0] / "eval" / "train_metrics.csv")
    assert [c for c in rows[0] if c] == ["epoch", "iou_coef", "val_iou_coef"]
    assert [r[0] for r in rows[1:]] == ["0", "1"]
    for row in rows[1:]:
        values = [float(v) for v in row[1:3]]
        assert all(0.0 <= v <= 1.0 for v in values), row


def test_model_info(project, pipeline):
    record = read_record(project[0] / "models")
    assert record.run.epochs_run == 2
    assert record.run.best_epoch in (0, 1)
    assert 0.0 < record.threshold < 1.0
    assert record.backend == keras.backend.backend()
    assert record.model["num_layers"] == 3 and record.model["image_width"] == 64
    assert pipeline["info"] == record


def test_best_model_round_trips_in_safe_mode(project, pipeline):
    root, config_path, _, _ = project
    probe = RecordingState.probe
    loaded = keras.saving.load_model(str(root / "models" / BEST_MODEL), safe_mode=True)
    from_file = loaded.predict(probe, verbose=0)
    assert pipeline["best_predictions"] is not None
    np.testing.assert_allclose(from_file, pipeline["best_predictions"], atol=1e-6)
    rebuilt = load_trained(pipeline["unet"].config)
    np.testing.assert_allclose(rebuilt.model.predict(probe, verbose=0), from_file, atol=1e-6)
    assert rebuilt.record.threshold == pipeline["info"].threshold
    assert loaded.loss.fn is keras.saving.get_registered_object("flexunet>bce_iou_loss")


def test_evaluation_outputs(project, pipeline):
    out = project[0] / "eval_output"
    metrics = {row[0]: row[1] for row in read_csv_rows(out / "evaluation.csv")[1:]}
    assert read_csv_rows(out / "evaluation.csv")[0] == ["metric", "value"]
    for key in ("loss", "iou_coef", "pixel_dice", "pixel_iou", "mean_dice", "threshold"):
        assert key in metrics, key
        float(metrics[key])
    assert float(metrics["images"]) == 24 and float(metrics["source_cells"]) == 6
    rows = read_csv_rows(out / "per_image.csv")
    assert rows[0] == PER_IMAGE_COLUMNS
    assert sorted(r[0] for r in rows[1:]) == project[3].names
    for r in rows[1:]:
        assert 0.0 <= float(r[2]) <= 1.0 and 0.0 <= float(r[3]) <= 1.0
    assert pipeline["evaluation"]["images"] == 24
    assert (out / "worst_cases.png").read_bytes()[:8] == PNG_MAGIC


def _check_masks(folder: Path, written: list) -> None:
    expected = {Path(n).stem + ".png" for n in INPUTS}
    assert {p.name for p in folder.iterdir() if p.name != OWNER_MARK} == expected | {"cells.csv"}
    assert sorted(p.name for p in written) == sorted(expected)
    cells = read_csv_rows(folder / "cells.csv")
    assert cells[0][:3] == ["file", "cell", "centroid_x"]
    assert {row[0] for row in cells[1:]} <= set(INPUTS)
    for name, (w, h, _) in INPUTS.items():
        mask = Image.open(folder / (Path(name).stem + ".png"))
        assert mask.size == (w, h), name
        assert mask.mode == "L", name
        assert set(np.unique(np.asarray(mask))) <= {0, 255}, name


def test_inference_masks_have_the_inputs_names_and_sizes(project, pipeline):
    _check_masks(project[0] / "test_output", pipeline["masks"])


def test_inference_overlays(project, pipeline):
    merged = project[0] / "test_output_merged"
    for name, (w, h, _) in INPUTS.items():
        overlay = Image.open(merged / (Path(name).stem + ".png"))
        assert overlay.size == (w, h) and overlay.mode == "RGB", name


def test_tiled_inference_masks_at_input_size(project, pipeline):
    _check_masks(project[0] / "tiled_test_output", pipeline["tiled_masks"])


def test_nothing_is_written_into_the_input_folder(pipeline):
    assert pipeline["after_infer"] == pipeline["before"]
    assert pipeline["after_tiled"] == pipeline["before"]


# ----------------------------------------------------------------------------- a copy of the trained model


@pytest.fixture
def trained_copy(tmp_path, project, pipeline, write_config, tiny_model_section):
    """A fresh project folder holding a copy of the trained models folder and absolute data paths."""
    import shutil

    root, _, _, data = project
    copy = tmp_path / "copy"
    shutil.copytree(root / "models", copy / "models")

    def config(model=None, **sections):
        base = {"train": {"model_dir": "./models", "image_datapath": str(data.images),
                          "mask_datapath": str(data.masks)},
                "eval": {"image_datapath": str(data.images), "mask_datapath": str(data.masks)},
                "infer": {"images_dir": str(root / "mini_test")},
                "tiledinfer": {"images_dir": str(root / "mini_test")}}
        for name, values in sections.items():
            base[name] = {**base.get(name, {}), **values}
        return write_config(copy, model=tiny_model_section(**(model or {})), **base)

    return copy, config


@pytest.mark.parametrize("section, key, run", [
    ("eval", "output_dir", "run_evaluation"),
    ("infer", "output_dir", "run_inference"),
    ("infer", "merged_dir", "run_inference"),
    ("tiledinfer", "output_dir", "run_tiled_inference"),
])
def test_outputs_never_replace_the_model_folder(trained_copy, section, key, run):
    """An output folder set to model_dir (a folder the toolkit owns) must be refused, not replaced."""
    from flexunet.config import load_config
    from flexunet.errors import OutputError
    from flexunet.evaluation import run as evaluate
    from flexunet.inference import run as infer
    from flexunet.inference import tiled

    copy, make_config = trained_copy
    config = load_config(make_config(**{section: {key: "./models"}}))
    before = sorted(p.name for p in (copy / "models").iterdir())
    action = getattr({"run_evaluation": evaluate, "run_inference": infer, "run_tiled_inference": tiled}[run], run)
    with pytest.raises(OutputError) as info:
        action(config)
    assert str(info.value).startswith(f"[{section}] {key} in {config.source}: expected a folder of its "
                                      f"own, got {copy / 'models'}, which is or holds the model folder")
    assert sorted(p.name for p in (copy / "models").iterdir()) == before


def test_weights_of_another_architecture_are_refused(trained_copy):
    from flexunet.config import load_config
    from flexunet.errors import ModelError

    copy, make_config = trained_copy
    config = load_config(make_config(model={"base_filters": 8}))
    with pytest.raises(ModelError) as info:
        load_trained(config)
    assert str(info.value) == (f"{copy / 'models' / BEST_MODEL} was trained with another architecture: "
                               "base_filters = 4 (config says 8)")


def test_inputs_sharing_a_stem_do_not_overwrite_each_other(trained_copy):
    """cell.jpg and cell.bmp would both become cell.png: refuse (naming both) or keep both masks."""
    from flexunet.config import load_config
    from flexunet.errors import DataError
    from flexunet.inference.run import run_inference

    copy, make_config = trained_copy
    inputs = copy / "inputs"
    inputs.mkdir()
    for name in ("cell.jpg", "cell.bmp", "other.png"):
        Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(inputs / name)
    config = load_config(make_config(infer={"images_dir": str(inputs), "output_dir": "./out"}))
    try:
        written = run_inference(config)
    except DataError as exc:
        assert "cell.jpg" in str(exc) and "cell.bmp" in str(exc)
        return
    masks = [p for p in (copy / "out").iterdir() if p.name not in (OWNER_MARK, "cells.csv")]
    assert len(set(written)) == 3 and len(masks) == 3, sorted(p.name for p in masks)


def test_create_backup_moves_the_earlier_models_folder(project, pipeline):
    """Runs after the checks above: a second training with create_backup = True (1 epoch)."""
    from flexunet.config import load_config
    from flexunet.training.run import run_training

    root, _, backup_config, _ = project
    run_training(load_config(backup_config))
    backups = sorted(p.name for p in root.iterdir() if p.name.startswith("models_"))
    assert len(backups) == 1 and re.fullmatch(r"models_\d{4}-\d\d-\d\d_\d\d_\d\d_\d\d_bak", backups[0])
    old = root / backups[0] / BEST_MODEL
    assert hashlib.sha256(old.read_bytes()).hexdigest() == pipeline["best_sha"]
    assert (root / "models" / BEST_MODEL).is_file()
    assert (root / "models" / "backup.config").read_bytes() == backup_config.read_bytes()
    assert read_record(root / "models").run.epochs_run == 1
    assert len([p for p in root.iterdir() if re.fullmatch(r"eval_\d.*_bak", p.name)]) == 1
    assert len((root / "eval" / "train_losses.csv").read_text().splitlines()) == 2


# ----------------------------------------------------------------------------- JAX backend


def test_train_and_infer_under_jax(tmp_path, write_config, make_tiny_dataset, tiny_model_section,
                                   subprocess_env):
    pytest.importorskip("jax")
    data = make_tiny_dataset(tmp_path / "data", cells=("j1", "j2", "j3"))
    write_inputs(tmp_path / "inputs")
    config = write_config(tmp_path, model=tiny_model_section(),
                          train={"epochs": 1, "batch_size": 4, "image_datapath": str(data.images),
                                 "mask_datapath": str(data.masks)},
                          infer={"images_dir": str(tmp_path / "inputs"),
                                 "output_dir": str(tmp_path / "out")})
    code = ("import sys\nfrom flexunet.cli import train_main, infer_main\n"
            "sys.exit(train_main([sys.argv[1]]) or infer_main([sys.argv[1]]))\n")
    result = subprocess.run([sys.executable, "-c", code, str(config)], cwd=tmp_path,
                            env=subprocess_env(KERAS_BACKEND="jax"), capture_output=True, text=True,
                            timeout=420)
    assert result.returncode == 0, result.stderr[-3000:]
    record = read_record(tmp_path / "models")
    assert record.backend == "jax" and record.run.epochs_run == 1
    _check_masks(tmp_path / "out", [tmp_path / "out" / (Path(n).stem + ".png") for n in INPUTS])
    # the JAX-trained model loads under this process's backend and predicts the same masks
    from flexunet.config import load_config
    from flexunet.data.dataset import resize_image
    from flexunet.data.io import read_image

    trained = load_trained(load_config(config))
    model, rule = trained.model, configured_rule(trained.record, load_config(config).postprocess)
    image = read_image(tmp_path / "inputs" / "same.jpg")
    probs = model.predict(resize_image(image, (64, 64))[None].astype(np.float32), verbose=0)[0, ..., 0]
    written = np.asarray(Image.open(tmp_path / "out" / "same.png")) > 127
    assert np.mean((rule.apply(probs) > 127) != written) < 0.01


def test_a_loaded_model_serves_evaluate_and_infer_without_reloading_or_retracing(project, pipeline, monkeypatch):
    """The seed's API as users script it: load_model(), then evaluate() and infer() twice each; the model is
    read once and its predict function made once."""
    import flexunet.evaluation.run
    import flexunet.inference.run
    from TensorflowUNet import TensorflowUNet

    unet = TensorflowUNet(str(project[1]))
    model = unet.load_model()

    def no_reload(*args, **kwargs):
        raise AssertionError("the held model was read again from model_dir")

    for module in (flexunet.inference.run, flexunet.evaluation.run):
        monkeypatch.setattr(module, "load_trained", no_reload)
    first = unet.infer()
    predict_function = model.predict_function
    assert predict_function is not None
    assert unet.infer() == first and unet.evaluate()["images"] == 24
    assert unet.model is model and model.predict_function is predict_function
    assert unet.rule.threshold == read_record(project[0] / "models").threshold
