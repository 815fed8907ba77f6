"""[train] ensemble: members trained with seed + k on one split; loading averages them everywhere."""

import shutil
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest

from conftest import make_tiny_dataset, tiny_model_section, write_config
from flexunet.config import load_config
from flexunet.errors import ConfigError, ModelError
from flexunet.evaluation.run import run_evaluation
from flexunet.model.files import member_dir
from flexunet.model.record import ModelRecord, read_record, write_record
from flexunet.model.store import average_models, load_trained, member_configs
from flexunet.model.unet import create_unet
from flexunet.training import run as train_module
from flexunet.training.run import run_training


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
    assert info.members == ("member_0", "member_1")
    assert [run.epochs_run for run in info.member_runs] == [2, 2]
    # bce_iou_loss is a mean over images, so validation predicts 256 images of 64x64 per step
    assert [(run.batch_size, run.validation_batch_size) for run in info.member_runs] == [(4, 256)] * 2
    for k in range(2):
        assert (folder / "models" / f"member_{k}" / "best_model.keras").is_file()
        assert (folder / "eval" / f"member_{k}" / "history.json").is_file()
    assert read_record(folder / "models") == info
    assert (folder / "models" / "train_eval_infer.config").is_file()
    w0, w1 = (keras.saving.load_model(folder / "models" / f"member_{k}" / "best_model.keras",
                                      safe_mode=True).get_weights()[0] for k in range(2))
    assert not np.allclose(w0, w1)


def test_resuming_finished_members_loads_each_best_model_once(trained, tmp_path, monkeypatch):
    folder, _, info = trained
    shutil.copytree(folder, tmp_path / "run")
    config = load_config(tmp_path / "run" / "train_eval_infer.config")
    config = replace(config, train=replace(config.train, resume=True))
    loaded, load_unet = [], train_module.load_unet
    monkeypatch.setattr(train_module, "load_unet",
                        lambda section, path: loaded.append(Path(path).parent.name) or load_unet(section, path))
    again = run_training(config, verbose=0)
    assert sorted(loaded) == ["member_0", "member_1"]
    assert (again.threshold, again.validation_dice) == (info.threshold, info.validation_dice)


def test_load_trained_averages_the_members(trained):
    folder, config, info = trained
    trained = load_trained(config)
    model = trained.model
    assert model.name == "ensemble" and trained.record.threshold == info.threshold
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
    (tmp_path / "member_0").mkdir()
    write_record(tmp_path, read_record(folder / "models"))
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
    assert again.member_runs == info.member_runs


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf2onnx export needs the TensorFlow backend")
def test_an_ensemble_exports_to_onnx_as_one_model(tmp_path):
    pytest.importorskip("tf2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from flexunet.inference.export import run_export
    from flexunet.model.files import BEST_MODEL
    from flexunet.model.store import model_signature, unet_from_section

    config = load_config(write_config(tmp_path, model=tiny_model_section()))
    models = []
    for k in range(2):
        keras.utils.set_random_seed(k)
        models.append(unet_from_section(config.model))
        (tmp_path / "models" / f"member_{k}").mkdir(parents=True)
        models[-1].save(tmp_path / "models" / f"member_{k}" / BEST_MODEL)
    write_record(config.train.model_dir, ModelRecord(model=model_signature(config.model), threshold=0.45,
                                                     members=("member_0", "member_1")))
    x = np.random.default_rng(2).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    expected = np.mean([m.predict(x, verbose=0) for m in models], axis=0)
    written = run_export(config, str(tmp_path / "out"), "onnx")
    session = onnxruntime.InferenceSession(str(written["onnx"]), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.fixture(scope="module")
def folds_trained(tmp_path_factory):
    """A 2-member ensemble_folds run with validation = "eval": member 2 trains on the [eval] cells."""
    root = tmp_path_factory.mktemp("folds")
    train_data = make_tiny_dataset(root / "train", cells=tuple(f"t{k}" for k in range(4)))
    eval_data = make_tiny_dataset(root / "valid", cells=("v0",), seed=1)
    test_data = make_tiny_dataset(root / "test", cells=("x0",), seed=2)
    train = {"epochs": 2, "batch_size": 4, "patience": 0, "ensemble": 2, "ensemble_folds": True,
             "validation": '"eval"', "image_datapath": f'"{train_data.images}"',
             "mask_datapath": f'"{train_data.masks}"'}
    sections = {name: {"image_datapath": f'"{d.images}"', "mask_datapath": f'"{d.masks}"',
                       "output_dir": f'"./{name}_output"'} for name, d in (("eval", eval_data), ("test", test_data))}
    config = load_config(write_config(root, model=tiny_model_section(), train=train, **sections))
    return root, config, run_training(config, verbose=0)


def test_fold_members_validate_on_their_own_cells(folds_trained):
    _, _, info = folds_trained
    assert info.members == ("member_0", "member_1")
    assert info.member_validation[0] == "member 1: the [eval] folders"
    assert info.member_validation[1].startswith("member 2: fold 2 of the source cells")
    assert info.threshold_from == "each member's own validation cells (out of fold)"
    assert 0.0 < info.threshold < 1.0 and 0.0 <= info.validation_dice <= 1.0


def test_fold_threshold_is_chosen_on_pooled_out_of_fold_counts(folds_trained):
    """Recomputing the pooled counts by hand, for each clean-up, gives the saved threshold, clean-up and Dice."""
    from flexunet.evaluation.scores import best_threshold_from_counts, threshold_counts
    from flexunet.inference.predict import model_predictor
    from flexunet.training.setup import training_splits

    root, config, info = folds_trained
    counts = {(k, h): 0 for k in (False, True) for h in (False, True)}
    for k, (_, val_src, _) in enumerate(training_splits(config)):
        model = keras.saving.load_model(root / "models" / f"member_{k}" / "best_model.keras", safe_mode=True)
        x, y = val_src.images.astype("float32"), val_src.masks
        probs = np.asarray(model_predictor(model, config.postprocess.tta)(x))[..., 0]
        for largest, holes in counts:
            counts[largest, holes] = counts[largest, holes] + threshold_counts(
                probs, y > config.mask.threshold, keep_largest=largest, holes=holes)
    best = {option: best_threshold_from_counts(c) for option, c in counts.items()}
    chosen = (info.keep_largest, info.fill_holes)
    threshold, dice = best[chosen]
    assert threshold == pytest.approx(info.threshold) and dice == pytest.approx(info.validation_dice, abs=1e-6)
    assert dice >= max(d for _, d in best.values()) - 1e-12
    assert [o.validation_dice for o in info.validation_options] == pytest.approx(
        [best[k, h][1] for k, h in ((False, False), (False, True), (True, False), (True, True))], abs=1e-6)


def test_evaluating_eval_cells_a_fold_ensemble_trained_on_warns(folds_trained, capsys):
    root, config, _ = folds_trained
    run_evaluation(config, "eval")
    out = capsys.readouterr().out
    assert ("Warning: members 2 to 2 of this ensemble_folds ensemble trained on the [eval] cells, so this "
            "figure is optimistic; the [test] section gives the honest one") in out
    assert "warning," in (root / "eval_output" / "evaluation.csv").read_text()
    run_evaluation(config, "test")
    assert "Warning" not in capsys.readouterr().out
    assert "warning," not in (root / "test_output" / "evaluation.csv").read_text()


def test_resuming_a_finished_member_does_not_load_or_train_it(trained, tmp_path, capsys):
    import shutil
    from dataclasses import replace

    folder, config, info = trained
    shutil.copytree(folder / "models", tmp_path / "models")
    shutil.copytree(folder / "eval", tmp_path / "eval")
    t = replace(config.train, model_dir=str(tmp_path / "models"), eval_dir=str(tmp_path / "eval"), resume=True)
    again = run_training(replace(config, train=t), verbose=0)
    out = capsys.readouterr().out
    assert out.count("holds a finished run") == 2 and "Resuming after epoch" not in out
    assert again.member_runs == info.member_runs


@pytest.fixture(scope="module")
def mixed_trained(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("mixed_run")
    train = {"epochs": 1, "batch_size": 4, "patience": 0, "ensemble": 2, "ensemble_base_filters": [4, 6],
             "validation_split": 0.25, "image_datapath": f'"{data.images}"', "mask_datapath": f'"{data.masks}"'}
    config = load_config(write_config(folder, model=tiny_model_section(), train=train))
    return folder, config, run_training(config, verbose=0)


def test_mixed_width_members_are_built_saved_and_averaged(mixed_trained):
    folder, config, info = mixed_trained
    assert info.member_base_filters == (4, 6)
    members = [keras.saving.load_model(folder / "models" / f"member_{k}" / "best_model.keras", safe_mode=True)
               for k in range(2)]
    assert [m.get_layer("enc0_conv1").filters for m in members] == [4, 6]
    model = load_trained(config).model
    x = np.random.default_rng(2).integers(0, 256, (2, 64, 64, 3)).astype("float32")
    expected = np.mean([m.predict(x, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)


def test_loading_with_other_member_widths_names_both(mixed_trained):
    folder, _, _ = mixed_trained
    other = write_config(folder, "other.config", model=tiny_model_section(),
                         train={"ensemble": 2, "ensemble_base_filters": [6, 4]})
    with pytest.raises(ModelError, match=r"trained with ensemble_base_filters = \[4, 6\] \(config says \[6, 4\]\)"):
        load_trained(load_config(other))


@pytest.mark.parametrize("widths, expected", [([8], "got 1: \\[8\\]"), ([8, 8, 16], "got 3: \\[8, 8, 16\\]")])
def test_member_widths_must_match_the_ensemble(tmp_path, widths, expected):
    path = write_config(tmp_path, model=tiny_model_section(), train={"ensemble": 2, "ensemble_base_filters": widths})
    with pytest.raises(ConfigError, match=r"\[train\] ensemble_base_filters in .*: expected one width per member "
                                          r"\(ensemble = 2\), " + expected):
        load_config(path)


@pytest.mark.parametrize("widths, count, expected", [((), 3, [16, 16, 16]), ((8, 16), 2, [8, 16]),
                                                     ((8, 16), 1, [16])])
def test_member_configs(tmp_path, widths, count, expected):
    config = load_config(write_config(tmp_path, model={"base_filters": 16},
                                      train={"ensemble": max(len(widths), 1),
                                             "ensemble_base_filters": list(widths)}))
    assert [c.model.base_filters for c in member_configs(config, count)] == expected
