"""The top-level scripts as a user runs them: a wrong setting ends with one 'error:' line, no traceback.

Every scenario runs in this process through the scripts' entry points (flexunet.cli.*_main, which
the scripts call), and a few of them also as real subprocesses of the scripts: each subprocess
starts TensorFlow (seconds of CPU), so those are started together once per module.
"""

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flexunet import cli

REPO = Path(__file__).resolve().parents[2]
PARALLEL = 2
TIMEOUT = 240
SUBPROCESS = ("missing config", "bad value", "bad value --debug", "unreadable image",
              "inferencer without weights")
MAINS = {"TensorflowUNetTrainer.py": cli.train_main, "TensorflowUNetEvaluator.py": cli.evaluate_main,
         "TensorflowUNetInferencer.py": cli.infer_main}


@dataclass
class Run:
    args: list
    cwd: Path
    config: Path
    returncode: int = None
    stdout: str = ""
    stderr: str = ""

    @property
    def error_lines(self):
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def _scenarios(root: Path, write_config, make_tiny_dataset, tiny_model_section) -> dict:
    """name -> (script, extra args, config path) for every failure the module checks."""
    data = make_tiny_dataset(root / "data", cells=("c1", "c2", "c3"), prefixes=("", "mirrored_"))
    model = tiny_model_section()

    def project(name, train=None, **sections):
        folder = root / name
        train_section = {"epochs": 1, "batch_size": 2, "image_datapath": str(data.images),
                         "mask_datapath": str(data.masks)}
        train_section.update(train or {})
        return write_config(folder, model=model, train=train_section, **sections)

    empty = root / "empty_images"
    empty.mkdir()
    (empty / "Thumbs.db").write_bytes(b"\0")

    unpaired = make_tiny_dataset(root / "unpaired", cells=("u1", "u2"), prefixes=("",))
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(unpaired.images / "lonely.jpg")

    broken = make_tiny_dataset(root / "broken", cells=("b1", "b2", "b3"), prefixes=("", "flipped_"))
    (broken.images / "flipped_b2.jpg").write_bytes(b"")

    infer_images = root / "to_segment"
    infer_images.mkdir()
    Image.fromarray(np.zeros((80, 100, 3), np.uint8)).save(infer_images / "x.bmp")

    bad_value = project("bad_value", train={"batch_size": "4x"})
    trainer, evaluator, inferencer = "TensorflowUNetTrainer.py", "TensorflowUNetEvaluator.py", \
        "TensorflowUNetInferencer.py"
    return {
        "missing config": (trainer, [], root / "nowhere" / "train_eval_infer.config"),
        "bad key": (trainer, [], project("bad_key", train={"batchsize": 4})),
        "bad value": (trainer, [], bad_value),
        "bad value --debug": (trainer, ["--debug"], bad_value),
        "missing data folder": (trainer, [], project("missing_data",
                                                     train={"image_datapath": "./no_such_folder"})),
        "empty image folder": (trainer, [], project("empty", train={"image_datapath": str(empty)})),
        "unpaired images": (trainer, [], project("unpaired_cfg", train={
            "image_datapath": str(unpaired.images), "mask_datapath": str(unpaired.masks)})),
        "unreadable image": (trainer, [], project("broken_cfg", train={
            "image_datapath": str(broken.images), "mask_datapath": str(broken.masks)})),
        "evaluator without weights": (evaluator, [], project(
            "no_weights_eval", eval={"image_datapath": str(data.images),
                                     "mask_datapath": str(data.masks)})),
        "inferencer without weights": (inferencer, [], project(
            "no_weights_infer", infer={"images_dir": str(infer_images)})),
    }


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory, write_config, make_tiny_dataset, tiny_model_section):
    root = tmp_path_factory.mktemp("cli")
    (root / "cwd").mkdir()
    return root, _scenarios(root, write_config, make_tiny_dataset, tiny_model_section)


@pytest.fixture(scope="module")
def runs(scenarios, subprocess_env):
    root, table = scenarios
    cwd = root / "cwd"
    env = subprocess_env()
    results, pending = {}, [(k, v) for k, v in table.items() if k in SUBPROCESS]
    active = {}
    deadline = time.monotonic() + TIMEOUT * 2
    while pending or active:
        while pending and len(active) < PARALLEL:
            name, (script, extra, config) = pending.pop(0)
            args = [sys.executable, str(REPO / script), str(config), *extra]
            proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            active[name] = (proc, Run(args, cwd, config))
        for name, (proc, run) in list(active.items()):
            if proc.poll() is not None or time.monotonic() > deadline:
                try:
                    run.stdout, run.stderr = proc.communicate(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    run.stdout, run.stderr = proc.communicate()
                run.returncode = proc.returncode
                results[name] = run
                del active[name]
        time.sleep(0.1)
    return results


def _check_one_error_line(run: Run) -> str:
    assert run.returncode == 1, (run.returncode, run.stderr[-2000:])
    lines = run.error_lines
    assert len(lines) == 1, run.stderr[-2000:]
    # the error is the last thing printed
    assert [line for line in run.stderr.splitlines() if line.strip()][-1] == lines[0]
    assert "run with --debug" not in lines[0], "an unexpected exception type reached the CLI"
    return lines[0]


EXPECTED = {
    # name: (start of the error line ({config} and {root} are filled in), fragments)
    "missing config": ("error: config file {config}: not found", []),
    "bad key": ("error: [train] batchsize in {config}: unknown key (did you mean 'batch_size'?)", []),
    "bad value": ("error: [train] batch_size in {config}: expected a positive int, got '4x'", []),
    "missing data folder": ("error: [train] image_datapath in {config}: folder ",
                            ["no_such_folder not found"]),
    "empty image folder": ("error: [train] image_datapath in {config}: no images (.jpg .png .bmp .tif) in ",
                           ["empty_images"]),
    "unpaired images": ("error: [train] mask_datapath in {config}: 1 image(s) in ",
                        ["have no mask with the same name in", "lonely.jpg"]),
    "unreadable image": ("error: image ", ["flipped_b2.jpg: cannot be read (empty file, 0 bytes)"]),
    "evaluator without weights": ("error: [train] model_dir in {config}: no trained model ",
                                  ["best_model.keras; run training first"]),
    "inferencer without weights": ("error: [train] model_dir in {config}: no trained model ",
                                   ["best_model.keras; run training first"]),
}


def _check_expected(run: Run, name: str) -> None:
    line = _check_one_error_line(run)
    start, fragments = EXPECTED[name]
    assert line.startswith(start.format(config=run.config)), line
    for fragment in fragments:
        assert fragment in line, line
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout


@pytest.mark.parametrize("name", list(EXPECTED))
def test_in_process_one_error_line_naming_the_setting(scenarios, name, capsys, monkeypatch):
    root, table = scenarios
    script, extra, config = table[name]
    monkeypatch.chdir(root / "cwd")
    monkeypatch.delenv("FLEXUNET_DEBUG", raising=False)
    code = MAINS[script]([str(config), *extra])
    out, err = capsys.readouterr()
    _check_expected(Run([script], root / "cwd", config, code, out, err), name)


@pytest.mark.parametrize("name", [n for n in SUBPROCESS if n in EXPECTED])
def test_subprocess_one_error_line_naming_the_setting(runs, name):
    _check_expected(runs[name], name)


def test_debug_shows_the_traceback(runs):
    run = runs["bad value --debug"]
    line = _check_one_error_line(run)
    assert line == f"error: [train] batch_size in {run.config}: expected a positive int, got '4x'"
    assert "Traceback (most recent call last)" in run.stderr
    assert "ConfigError" in run.stderr


def test_failed_runs_leave_the_data_alone(runs):
    """Runs that stop on a data error must not write into the data folders."""
    broken = runs["unreadable image"].config.parent.parent / "broken"
    assert set(runs) == set(SUBPROCESS)
    assert sorted(p.name for p in (broken / "images").iterdir()) == [
        "b1.jpg", "b2.jpg", "b3.jpg", "flipped_b1.jpg", "flipped_b2.jpg", "flipped_b3.jpg"]
    assert sorted(p.name for p in (broken / "masks").iterdir()) == [
        "b1.png", "b2.png", "b3.png", "flipped_b1.png", "flipped_b2.png", "flipped_b3.png"]
    assert list(runs["missing config"].cwd.iterdir()) == []
