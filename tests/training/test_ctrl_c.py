"""Ctrl-C during fit: raised at once, and again at the epoch's end when something swallowed it."""

import gc
import os
import signal
import sys
import types

import keras
import numpy as np
import pytest

from flexunet.training.callbacks import CtrlC


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """Ctrl-C raising KeyboardInterrupt here as in a terminal, even when the suite runs with SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class SwallowsCtrlC:
    """An object whose __del__ is where Ctrl-C lands: Python prints "Exception ignored" and goes on."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_raises_at_once_and_the_handler_is_restored_after():
    before = signal.getsignal(signal.SIGINT)
    with CtrlC().installed() as ctrl_c:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        assert ctrl_c.pressed
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_swallowed_ctrl_c_stops_the_fit_at_the_end_of_its_epoch():
    """Ctrl-C lands in a __del__ during epoch 0's end: fit still stops, after that epoch, not 50 later."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    epochs = []

    class Swallow(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epochs.append(epoch)
            if epoch == 0:
                SwallowsCtrlC()
                gc.collect()

    with CtrlC().installed() as ctrl_c:
        with pytest.raises(KeyboardInterrupt):
            model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=50, verbose=0, callbacks=[Swallow(), ctrl_c])
    assert epochs == [0] and ctrl_c.pressed


def test_a_swallowed_ctrl_c_prints_no_traceback_and_other_unraisables_still_do():
    seen = []
    before = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        with CtrlC().installed():
            SwallowsCtrlC()
            gc.collect()
            sys.unraisablehook(types.SimpleNamespace(exc_type=ValueError))
        assert [info.exc_type for info in seen] == [ValueError]
    finally:
        sys.unraisablehook = before


def test_a_run_that_ignores_ctrl_c_keeps_ignoring_it():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with CtrlC().installed():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
