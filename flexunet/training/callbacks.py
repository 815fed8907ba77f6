"""Training callbacks: CSV history and curves, best checkpoint, early stopping, LR reducer, resume state, Ctrl-C."""

import contextlib
import json
import math
import signal
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np

from flexunet import plots
from flexunet.config.names import CELLS_PROGRESS_METRIC, PROGRESS_METRIC
from flexunet.fsutil import atomic_copy, atomic_save, atomic_write_text
from flexunet.model.files import BEST_MODEL, LAST_MODEL
from flexunet.training.outputs import (
    HISTORY_JSON,
    TRAIN_LOSSES_CSV,
    TRAIN_LOSSES_PNG,
    TRAIN_METRICS_CSV,
    TRAIN_METRICS_PNG,
    epoch_picture,
)
from flexunet.training.state import TrainState, write_state


def _fmt(value) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


class HistoryWriter(keras.callbacks.Callback):
    """Rewrites eval_dir/train_losses.csv, train_metrics.csv, history.json and the curve PNGs each epoch."""

    def __init__(self, eval_dir: str, metric_columns: list[str], history: dict | None = None):
        super().__init__()
        self.eval_dir = Path(eval_dir)
        self.metric_columns = metric_columns
        self.history = history or {"epoch": []}

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if "learning_rate" not in logs:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.history["epoch"].append(int(epoch))
        for name, value in logs.items():
            column = self.history.setdefault(name, [None] * (len(self.history["epoch"]) - 1))
            column.append(float(value))
        for column in self.history.values():
            while len(column) < len(self.history["epoch"]):
                column.append(None)
        self.write()

    def write(self) -> None:
        h, epochs = self.history, self.history["epoch"]
        rows = ["epoch, loss, val_loss"] + [
            f"{e}, {_fmt(h.get('loss', [None] * len(epochs))[i])}, {_fmt(h.get('val_loss', [None] * len(epochs))[i])}"
            for i, e in enumerate(epochs)
        ]
        atomic_write_text(self.eval_dir / TRAIN_LOSSES_CSV, "\n".join(rows) + "\n")
        rows = ["epoch," + ",".join(self.metric_columns)] + [
            ", ".join([str(e)] + [_fmt(h.get(c, [None] * len(epochs))[i]) for c in self.metric_columns])
            for i, e in enumerate(epochs)
        ]
        atomic_write_text(self.eval_dir / TRAIN_METRICS_CSV, "\n".join(rows) + "\n")
        atomic_write_text(self.eval_dir / HISTORY_JSON, json.dumps(h, indent=1))
        losses = {k: h[k] for k in ("loss", "val_loss") if k in h}
        plots.plot_curves(self.eval_dir / TRAIN_LOSSES_PNG, epochs, losses, "Train losses")
        progress = [f"{prefix}{m}" for m in (PROGRESS_METRIC, CELLS_PROGRESS_METRIC) for prefix in ("", "val_")]
        plotted = dict.fromkeys([*self.metric_columns, *progress])
        metrics = {c: h[c] for c in plotted if c in h}
        if metrics:
            plots.plot_curves(self.eval_dir / TRAIN_METRICS_PNG, epochs, metrics, "Train metrics")


class EpochSeeds(keras.callbacks.Callback):
    """Sets each layer's random seed state from (seed, layer name, epoch) when an epoch begins.

    Dropout masks then depend only on the epoch, so a resumed run draws the same masks as an
    uninterrupted one (seed states are not part of a saved model).
    """

    STRIDE = 1_000_003

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch, logs=None):
        for layer in self.model.layers:
            generator = getattr(layer, "seed_generator", None)
            if generator is None:
                continue
            base = zlib.crc32(f"{self.seed}/{layer.name}".encode()) & 0x7FFFFFFF
            state = np.array([base, (epoch * self.STRIDE) % (1 << 31)], dtype=generator.state.dtype)
            generator.state.assign(state)


class AverageWeightsSwap(keras.callbacks.SwapEMAWeights):
    """Validation, checkpoints and inference use the weights' moving average ([model] ema_momentum).

    At each epoch end the average is swapped into the model (the raw weights wait in the
    optimizer's average slots) and swapped back when the next epoch begins, so a checkpoint holds
    both and a run resumed from it (`resumed`) continues exactly. Unlike Keras's own callback it
    never overwrites the raw weights at the planned last epoch, so a finished run can be extended.
    """

    def __init__(self, resumed: bool = False):
        super().__init__(swap_on_epoch=True)
        self._ema_weights_in_model = resumed

    def on_epoch_end(self, epoch, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True


class TrainingState(keras.callbacks.Callback):
    """Best checkpoint on val_loss, early stopping, plateau LR reduction, and resumable state.

    After every epoch the model with its optimizer is saved to LAST_MODEL and the counters to
    STATE_FILE (both atomically), so a killed run resumes from its last completed epoch. A
    non-finite training loss stops the run at the end of its epoch and leaves those files as they
    were (checked per epoch, not per batch, so that steps are dispatched without a host sync).
    """

    def __init__(self, model_dir: str, patience: int, reducer: bool, reducer_factor: float,
                 reducer_patience: int, history: HistoryWriter, state: TrainState | None = None,
                 save_last: bool = True):
        super().__init__()
        self.model_dir = Path(model_dir)
        self.patience = patience
        self.reducer = reducer
        self.reducer_factor = reducer_factor
        self.reducer_patience = reducer_patience
        self.history = history
        self.save_last = save_last
        self.state = state or TrainState()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        loss = logs.get("loss")
        if loss is not None and not np.isfinite(loss):
            self.model.stop_training = True
            print(f"\nEpoch {epoch}: the training loss is {loss}; stopping and keeping the last finite epoch's "
                  "files (lower [model] learning_rate or check the masks)")
            return
        monitor = logs.get("val_loss", loss)
        s = self.state
        improved = monitor is not None and np.isfinite(monitor) and (s.best is None or monitor < s.best)
        if improved:
            s = s.updated(best=float(monitor), best_epoch=int(epoch), wait=0, reducer_wait=0)
        else:
            s = s.updated(wait=s.wait + 1, reducer_wait=s.reducer_wait + 1)
        if self.reducer and s.reducer_wait >= self.reducer_patience:
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            self.model.optimizer.learning_rate = lr * self.reducer_factor
            s = s.updated(reducer_wait=0)
            print(f"\nEpoch {epoch}: reducing learning rate to {lr * self.reducer_factor:.3g}")
        if self.patience and s.wait >= self.patience:
            s = s.updated(stopped=True)
            self.model.stop_training = True
            print(f"\nEpoch {epoch}: early stopping; best val_loss {s.best:.4f} at epoch {s.best_epoch}")
        s = s.updated(epoch=int(epoch))
        if self.save_last:
            atomic_save(self.model_dir / LAST_MODEL, self.model.save)
        if improved:
            if self.save_last:
                atomic_copy(self.model_dir / LAST_MODEL, self.model_dir / BEST_MODEL)
            else:
                atomic_save(self.model_dir / BEST_MODEL, self.model.save)
            print(f"\nEpoch {epoch}: val_loss improved to {monitor:.4f}; saved {self.model_dir / BEST_MODEL}")
        self.state = s.updated(history=self.history.history)
        write_state(self.model_dir, self.state)


class EpochChangeInfer(keras.callbacks.Callback):
    """Predicts a few fixed images after every epoch and saves a picture per epoch."""

    def __init__(self, images: np.ndarray, names: list[str], out_dir: str, threshold: float = 0.5):
        super().__init__()
        self.images = images
        self.names = names
        self.out_dir = Path(out_dir)
        self.threshold = threshold

    def on_epoch_end(self, epoch, logs=None):
        probs = self.model.predict(self.images.astype(np.float32), verbose=0)[..., 0]
        masks = np.where(probs > self.threshold, 255, 0).astype(np.uint8)
        inputs = [img.astype(np.uint8) for img in self.images]
        overlays = [plots.overlay(img, m) for img, m in zip(inputs, masks)]
        plots.image_grid(self.out_dir / epoch_picture(epoch), [inputs, overlays],
                         ["input", "prediction"], self.names, title=f"epoch {epoch}")


class CtrlC(keras.callbacks.Callback):
    """Ctrl-C during fit stops the run for certain. Python raises KeyboardInterrupt wherever the main thread
    is; landing in code that swallows it (a __del__ or a garbage-collection callback only prints "Exception
    ignored" and goes on) the run would train on. This raises it at once as Python does, and again at the end
    of the epoch it was pressed in, after that epoch's files are saved (keep it last among the callbacks)."""

    def __init__(self):
        super().__init__()
        self.pressed = False

    @contextlib.contextmanager
    def installed(self) -> Iterator["CtrlC"]:
        """SIGINT handled by this callback while the block runs: only from the main thread, and only where
        Ctrl-C raises KeyboardInterrupt now (a run that ignores SIGINT, as a shell's background job does,
        keeps ignoring it)."""
        if (threading.current_thread() is not threading.main_thread()
                or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
            yield self
            return
        previous, unraisable = signal.signal(signal.SIGINT, self._press), sys.unraisablehook
        sys.unraisablehook = self._unraisable(unraisable)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)
            sys.unraisablehook = unraisable

    @staticmethod
    def _unraisable(hook):
        """The hook that prints "Exception ignored ... Traceback", quiet for a swallowed Ctrl-C (raised again at
        the epoch's end, so the user sees one 'interrupted' line and no traceback)."""
        def quiet(info):
            if not issubclass(info.exc_type, KeyboardInterrupt):
                hook(info)
        return quiet

    def _press(self, signum, frame):
        self.pressed = True
        raise KeyboardInterrupt

    def on_epoch_end(self, epoch, logs=None):
        if self.pressed:
            raise KeyboardInterrupt
