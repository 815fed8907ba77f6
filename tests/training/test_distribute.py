"""Data-parallel training matches single-device training (TF logical CPUs, JAX host devices)."""

import contextlib
import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest

from flexunet.errors import ConfigError
from flexunet.training import distribute
from flexunet.training.distribute import strategy_scope

# Tolerance on ||w_mirrored - w_single|| / ||w_single|| over all weights, and on each epoch's
# loss. The runs differ only in the order of float32 additions (each replica sums half of the
# batch, the all-reduce adds the halves) and in the kernels oneDNN picks for batch 4 vs 8, which
# moves the weights by ~1e-6 relative after a dozen SGD steps. Plain SGD (not Adam) on purpose:
# Adam is nearly invariant to the gradient's scale, so it would hide a replica-scaling bug, which
# SGD turns into a relative difference of 1e-2 or more.
RTOL = 1e-4
# Training must really move the weights (||w_single - w_initial|| / ||w_single||), or equality
# would prove nothing.
MIN_MOVE = 1e-3

CHILD = textwrap.dedent('''
    import json, os
    import numpy as np

    BACKEND = os.environ["KERAS_BACKEND"]
    if BACKEND == "tensorflow":
        import tensorflow as tf
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    from flexunet.training.distribute import strategy_scope
    from flexunet.model.compile import compile_unet
    from flexunet.model.unet import create_unet

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (32, 64, 64, 3)).astype("float32")
    yy, xx = np.mgrid[0:64, 0:64]
    centres = rng.integers(16, 48, (32, 2))
    y = np.stack([((yy - cy) ** 2 + (xx - cx) ** 2 <= 100) for cy, cx in centres])[..., None]
    y = y.astype("float32")

    def build(loss):
        keras.utils.set_random_seed(0)
        model = create_unet((64, 64), 3, 1, base_filters=4, num_layers=3, dropout_rate=0.0)
        if loss == "toolkit":
            return compile_unet(model, "binary_crossentropy", (), optimizer="sgd", learning_rate=0.1)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.BinaryCrossentropy())
        return model

    def train(model):
        history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        return [float(v) for v in history.history["loss"]]

    def flat(weights):
        return np.concatenate([w.ravel().astype(np.float64) for w in weights])

    def compare(loss):
        single = build(loss)
        initial = single.get_weights()
        single_loss = train(single)
        with strategy_scope("mirrored"):
            mirrored = build(loss)
            if BACKEND == "tensorflow":
                replicas = tf.distribute.get_strategy().num_replicas_in_sync
            else:
                replicas = len(keras.distribution.distribution().device_mesh.devices.flatten())
        mirrored.set_weights(initial)
        mirrored_loss = train(mirrored)
        if BACKEND == "jax":
            keras.distribution.set_distribution(None)
        w0, w1, w2 = flat(initial), flat(single.get_weights()), flat(mirrored.get_weights())
        norm = np.linalg.norm(w1)
        return {"replicas": int(replicas), "single_loss": single_loss, "mirrored_loss": mirrored_loss,
                "rel_diff": float(np.linalg.norm(w1 - w2) / norm),
                "rel_move": float(np.linalg.norm(w1 - w0) / norm)}

    print("RESULT " + json.dumps({loss: compare(loss) for loss in os.environ["LOSSES"].split(",")}))
''')


def start_child(folder, subprocess_env, backend: str, losses: str, **env) -> subprocess.Popen:
    script = folder / "distributed_child.py"
    script.write_text(CHILD, encoding="utf-8")
    full_env = subprocess_env(KERAS_BACKEND=backend, LOSSES=losses, CUDA_VISIBLE_DEVICES="",
                              TF_CPP_MIN_LOG_LEVEL="3", **env)
    return subprocess.Popen([sys.executable, str(script)], env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def child_result(child: subprocess.Popen) -> dict:
    stdout, stderr = child.communicate(timeout=300)
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert child.returncode == 0 and lines, f"child failed ({child.returncode}):\n{stdout}\n{stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def check_equal_training(result: dict) -> None:
    assert result["replicas"] == 2, result
    assert result["rel_move"] > MIN_MOVE, result
    assert result["rel_diff"] < RTOL, result
    for a, b in zip(result["single_loss"], result["mirrored_loss"]):
        assert abs(a - b) <= RTOL * max(abs(a), 1e-12), result


@pytest.fixture(scope="module")
def runs(tmp_path_factory, subprocess_env) -> dict:
    """Both backends' children, run side by side to keep the module near 30 s.

    tensorflow: MirroredStrategy over 2 logical CPUs, global batch 8 (4 per replica), vs one device.
    jax: keras.distribution.DataParallel over 2 forced host devices vs one device, same batch.
    """
    children = {"tensorflow": start_child(tmp_path_factory.mktemp("tf"), subprocess_env, "tensorflow",
                                          "toolkit,keras")}
    if importlib.util.find_spec("jax") is not None:
        children["jax"] = start_child(tmp_path_factory.mktemp("jax"), subprocess_env, "jax", "toolkit",
                                      JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    try:
        return {backend: child_result(child) for backend, child in children.items()}
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.communicate()


def test_mirrored_tensorflow_keras_loss_matches_single_device(runs):
    """The strategy itself: a per-sample Keras loss trains identically on 1 and 2 replicas."""
    check_equal_training(runs["tensorflow"]["keras"])


def test_mirrored_tensorflow_toolkit_loss_matches_single_device(runs):
    """The toolkit's path: compile_unet with a registry loss, on 1 and 2 replicas."""
    check_equal_training(runs["tensorflow"]["toolkit"])


def test_data_parallel_jax_matches_single_device(runs):
    """JAX computes the loss over the global batch, so the registry losses are fine there."""
    if "jax" not in runs:
        pytest.skip("jax is not installed (pip install flexunet[jax])")
    check_equal_training(runs["jax"]["toolkit"])


def test_none_is_a_null_context():
    scope = strategy_scope("none")
    assert isinstance(scope, contextlib.nullcontext)
    with scope:
        pass


def test_unknown_backend_is_a_config_error(monkeypatch):
    monkeypatch.setattr(distribute.keras.backend, "backend", lambda: "torch")
    with pytest.raises(ConfigError, match=r"\[train\] distribution.*torch"):
        strategy_scope("mirrored")


def _tf_config(cluster: dict, task_type: str, index: int) -> dict:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


TWO_WORKERS = {"worker": ["a:1", "b:1"]}
CHIEF_AND_TWO = {"chief": ["c:1"], "worker": ["a:1", "b:1"]}


@pytest.mark.parametrize("mode, environ, expected", [
    ("mirrored", {}, None),                                            # no TF_CONFIG: one machine
    ("mirrored", _tf_config({"worker": ["a:1"]}, "worker", 0), None),  # a cluster of one
    ("none", _tf_config(TWO_WORKERS, "worker", 1), None),              # not distributed
    ("mirrored", _tf_config(TWO_WORKERS, "worker", 0), 0),             # worker 0 is the chief
    ("mirrored", _tf_config(TWO_WORKERS, "worker", 1), 1),
    ("mirrored", _tf_config(CHIEF_AND_TWO, "chief", 0), 0),
    ("mirrored", _tf_config(CHIEF_AND_TWO, "worker", 0), 1),           # with a chief, workers count from 1
    ("mirrored", _tf_config(CHIEF_AND_TWO, "worker", 1), 2),
])
def test_worker_index(monkeypatch, mode, environ, expected):
    monkeypatch.setattr(distribute.keras.backend, "backend", lambda: "tensorflow")
    assert distribute.worker_index(mode, environ) == expected


def test_worker_index_is_none_on_jax(monkeypatch):
    monkeypatch.setattr(distribute.keras.backend, "backend", lambda: "jax")
    assert distribute.worker_index("mirrored", _tf_config(TWO_WORKERS, "worker", 1)) is None


@pytest.mark.parametrize("folder, index, expected", [
    ("/r/models", None, "/r/models"),
    ("/r/models", 0, "/r/models"),
    ("/r/models", 1, "/r/models_worker1"),
    ("/r/eval/", 3, "/r/eval_worker3"),
])
def test_worker_folder(folder, index, expected):
    assert distribute.worker_folder(folder, index) == expected


def test_non_chief_worker_writes_sibling_folders(monkeypatch, tmp_path):
    """A second worker writes models_worker1/eval_worker1, never the chief's folders."""
    from flexunet.config import load_config
    from flexunet.training.setup import worker_outputs

    text = f"""
[model]
image_width = 64
image_height = 64
[train]
model_dir = "{tmp_path}/models"
eval_dir = "{tmp_path}/eval"
distribution = "mirrored"
"""
    (tmp_path / "c.config").write_text(text)
    config = load_config(tmp_path / "c.config")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 1}}))
    monkeypatch.setattr(distribute.keras.backend, "backend", lambda: "tensorflow")
    moved = worker_outputs(config)
    assert (moved.train.model_dir, moved.train.eval_dir) == (f"{tmp_path}/models_worker1", f"{tmp_path}/eval_worker1")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 0}}))
    assert worker_outputs(config) is config
