"""Nothing lost, resumable, reproducible: kill and resume, Ctrl-C, same seed, unsafe outputs, no eval."""

import ast
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest

import flexunet.model.losses  # noqa: F401  (registers the losses that saved models refer to)
from conftest import REPO, make_tiny_dataset, subprocess_env, tiny_model_section, write_config

TRAINER = str(REPO / "TensorflowUNetTrainer.py")
INFERENCER = str(REPO / "TensorflowUNetInferencer.py")
EVALUATOR = str(REPO / "TensorflowUNetEvaluator.py")


def train_config(folder: Path, data, epochs: int, **train):
    section = {"epochs": epochs, "batch_size": 4, "patience": 0, "image_datapath": f'"{data.images}"',
               "mask_datapath": f'"{data.masks}"', "validation_split": 0.25, "seed": 7, **train}
    return write_config(folder, model=tiny_model_section(dropout_rate=0.1),
                        train=section, generator={"augmentation": True})


@contextlib.contextmanager
def training(config: Path) -> Iterator[subprocess.Popen]:
    """A 1.train of `config` running in the background, Ctrl-C reaching it as from a terminal even when the
    tests themselves run with SIGINT ignored (a background job of a shell), and killed when the test leaves
    it running (a failed assertion), so no orphan trains on."""
    proc = subprocess.Popen([sys.executable, TRAINER, str(config)], cwd=config.parent, env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def run(script: str, config: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, script, str(config)], cwd=config.parent, env=subprocess_env(),
                          capture_output=True, text=True, timeout=timeout)


def wait_for_epoch(state: Path, epoch: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"training ended early with {proc.returncode}: {proc.stderr.read()}")
        try:
            if json.loads(state.read_text())["epoch"] >= epoch:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"epoch {epoch} not reached within {timeout} s")


def weights(path: Path) -> list[np.ndarray]:
    return keras.saving.load_model(str(path), safe_mode=True).get_weights()


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    data = make_tiny_dataset(tmp_path / "data")
    straight = train_config(tmp_path / "straight", data, 4)
    assert run(TRAINER, straight).returncode == 0

    killed = train_config(tmp_path / "killed", data, 4)
    with training(killed) as proc:
        wait_for_epoch(killed.parent / "models" / "train_state.json", 1, proc)
        proc.kill()
        proc.wait()
    assert keras.saving.load_model(str(killed.parent / "models" / "best_model.keras"), safe_mode=True)
    resumed = train_config(tmp_path / "killed", data, 4, resume=True)
    result = run(TRAINER, resumed)
    assert result.returncode == 0, result.stderr
    assert "Resuming after epoch" in result.stdout
    assert f"was locked by a run that is gone (pid {proc.pid} on" in result.stdout
    assert not (killed.parent / ".models.flexunet-lock").exists()

    a = json.loads((straight.parent / "eval" / "history.json").read_text())
    b = json.loads((resumed.parent / "eval" / "history.json").read_text())
    assert b["epoch"] == [0, 1, 2, 3]
    assert a["loss"] == b["loss"] and a["val_loss"] == b["val_loss"]
    for x, y in zip(weights(straight.parent / "models" / "last_model.keras"),
                    weights(resumed.parent / "models" / "last_model.keras")):
        np.testing.assert_array_equal(x, y)
    rows = (resumed.parent / "eval" / "train_losses.csv").read_text().splitlines()
    assert rows[0] == "epoch, loss, val_loss" and [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2", "3"]


def test_a_second_training_refuses_while_evaluation_works_and_ctrl_c_releases_the_folders(tmp_path):
    """While one training runs: a second 1.train into its folders exits 1 with one line naming the folder
    and the first run's pid, and leaves the folders alone; 2.evaluate reads the best model saved so far.
    Ctrl-C then ends the first run with 130, its best model kept and its locks released."""
    data = make_tiny_dataset(tmp_path / "data")
    config = write_config(tmp_path / "run", model=tiny_model_section(dropout_rate=0.1), train={
        "epochs": 5000, "batch_size": 4, "patience": 0, "image_datapath": f'"{data.images}"',
        "mask_datapath": f'"{data.masks}"', "validation_split": 0.25, "seed": 7},
        generator={"augmentation": True},
        eval={"image_datapath": f'"{data.images}"', "mask_datapath": f'"{data.masks}"'})
    state = config.parent / "models" / "train_state.json"
    with training(config) as proc:
        wait_for_epoch(state, 0, proc)
        second = run(TRAINER, config)
        assert second.returncode == 1
        errors = [line for line in second.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in second.stderr
        assert errors[0].startswith(f"error: [train] model_dir in {config}: {config.parent / 'models'} is in use "
                                    f"by another training (pid {proc.pid} on ")
        assert state.exists() and proc.poll() is None
        evaluated = run(EVALUATOR, config)
        assert evaluated.returncode == 0, evaluated.stderr
        assert "is being trained (pid" in evaluated.stdout
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert keras.saving.load_model(str(config.parent / "models" / "best_model.keras"), safe_mode=True)
    assert not list(config.parent.glob(".*.flexunet-lock"))


def test_same_seed_gives_identical_weights_after_one_epoch(tmp_path):
    from flexunet.config import load_config
    from flexunet.training.run import run_training

    data = make_tiny_dataset(tmp_path / "data")
    finals = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        config = train_config(tmp_path / name, data, 1, seed=seed)
        run_training(load_config(config), verbose=0)
        finals.append(weights(config.parent / "models" / "last_model.keras"))
    assert all(np.array_equal(x, y) for x, y in zip(finals[0], finals[1]))
    assert not all(np.array_equal(x, y) for x, y in zip(finals[0], finals[2]))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    data = make_tiny_dataset(root / "data")
    config = train_config(root, data, 1)
    result = run(TRAINER, config)
    assert result.returncode == 0, result.stderr
    return root, data


@pytest.mark.parametrize("output, message", [
    ("input", "which is or holds the input folder"),
    ("config folder", "which is or holds the config folder"),
])
def test_inference_refuses_to_write_into_its_input_or_project_folder(trained, output, message):
    root, data = trained
    target = data.images if output == "input" else root
    config = train_config(root, data, 1)
    text = config.read_text() + f'\n[infer]\nimages_dir = "{data.images}"\noutput_dir = "{target}"\n'
    config.write_text(text)
    result = run(INFERENCER, config)
    assert result.returncode == 1
    assert result.stderr.startswith("error: [infer] output_dir in ") and message in result.stderr
    assert len(list(data.images.iterdir())) == len(data.names)


def test_weights_of_another_architecture_are_refused(trained):
    root, data = trained
    other = write_config(root, "other.config", model=tiny_model_section(num_layers=2),
                         train={"image_datapath": f'"{data.images}"', "mask_datapath": f'"{data.masks}"'},
                         eval={"image_datapath": f'"{data.images}"', "mask_datapath": f'"{data.masks}"'})
    result = run(EVALUATOR, other)
    assert result.returncode == 1
    assert "was trained with another architecture: num_layers = 3 (config says 2)" in result.stderr


BANNED_CALLS = {"eval", "exec", "compile", "__import__"}


def test_no_code_runs_from_data():
    """No eval/exec/compile/__import__ calls and no pickle in the package or the scripts."""
    files = list((REPO / "flexunet").rglob("*.py")) + list(REPO.glob("*.py"))
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in BANNED_CALLS, f"{path}:{node.lineno} calls {node.func.id}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] in ("pickle", "dill", "marshal") for n in names), path
