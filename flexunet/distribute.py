"""Data-parallel training: tf.distribute on TensorFlow, keras.distribution on JAX."""

import contextlib
import json
import os

import keras

from flexunet.errors import ConfigError


def strategy_scope(mode: str, where: str = "[train] distribution"):
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

        tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
        if len(tf_config.get("cluster", {}).get("worker", [])) > 1:
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
