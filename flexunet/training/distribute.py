"""Data-parallel training: tf.distribute on TensorFlow, keras.distribution on JAX."""

import contextlib
import json
import os

import keras

from flexunet.errors import ConfigError


def _tf_cluster(environ: dict | None = None) -> tuple[dict, dict]:
    """(cluster, task) from TF_CONFIG; empty dicts when it is not set."""
    env = os.environ if environ is None else environ
    tf_config = json.loads(env.get("TF_CONFIG", "{}") or "{}")
    return tf_config.get("cluster", {}), tf_config.get("task", {})


def _multi_worker(cluster: dict) -> bool:
    """True when the cluster has more than one task (workers plus a chief)."""
    return len(cluster.get("worker", [])) + len(cluster.get("chief", [])) > 1


def worker_index(mode: str, environ: dict | None = None) -> int | None:
    """This process's worker index in a multi-worker TensorFlow run, or None on a single machine.

    TF_CONFIG names the cluster; the chief is the "chief" task if the cluster has one, else worker 0.
    Chief tasks report 0; other workers their position in the "worker" list (+1 when a chief exists).
    """
    if mode == "none" or keras.backend.backend() != "tensorflow":
        return None
    cluster, task = _tf_cluster(environ)
    if not _multi_worker(cluster):
        return None
    if task.get("type") == "chief":
        return 0
    return int(task.get("index", 0)) + (1 if cluster.get("chief") else 0)


def worker_folder(folder: str, index: int | None) -> str:
    """Where a worker writes `folder`: the chief (0 or None) the folder itself, others a sibling."""
    return folder if not index else f"{folder.rstrip('/')}_worker{index}"


def strategy_scope(mode: str, where: str = "[train] distribution") -> contextlib.AbstractContextManager:
    """A context in which to build and compile the model for `mode` ("none" or "mirrored").

    TensorFlow: MirroredStrategy over local devices, or MultiWorkerMirroredStrategy when
    TF_CONFIG names several workers. JAX: keras.distribution.DataParallel over all devices.
    The batch size stays global: each step splits it across the devices.
    """
    if mode == "none":
        return contextlib.nullcontext()
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if _multi_worker(_tf_cluster()[0]):
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        else:
            strategy = tf.distribute.MirroredStrategy()
        print(f"Distribution: {type(strategy).__name__} over {strategy.num_replicas_in_sync} replica(s)")
        return strategy.scope()
    if backend == "jax":
        devices = keras.distribution.list_devices()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        print(f"Distribution: keras DataParallel over {len(devices)} device(s)")
        return contextlib.nullcontext()
    raise ConfigError(f"{where}: 'mirrored' needs the tensorflow or jax backend, not {backend}")
