"""The resume state of a training (train_state.json): counters after the last completed epoch.

This module is the one place that knows the file's keys; TrainingState writes it after every epoch and
a resumed run reads it back.
"""

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from flexunet.fsutil import atomic_write_text
from flexunet.model.files import LAST_MODEL, STATE_FILE


@dataclass(frozen=True)
class TrainState:
    """epoch: the last completed epoch (-1 before the first); best and best_epoch: the lowest val_loss and
    its epoch; wait and reducer_wait: epochs since it improved, for early stopping and the learning-rate
    reducer; stopped: early stopping ended the run; history: every logged value per epoch; model: the
    architecture keys it trains; batch_size and validation_batch_size: the batches it trains with."""

    epoch: int = -1
    best: float | None = None
    best_epoch: int | None = None
    wait: int = 0
    reducer_wait: int = 0
    stopped: bool = False
    history: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    batch_size: int | None = None
    validation_batch_size: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "TrainState":
        data: dict[str, Any] = json.loads(text)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "history": dict(known.get("history") or {}), "model": dict(known.get("model") or {})})

    def finished(self, epochs: int) -> bool:
        """Early stopping ended it, or it ran its last epoch."""
        return self.stopped or self.epoch + 1 >= epochs

    def updated(self, **changes) -> "TrainState":
        return replace(self, **changes)


def write_state(model_dir: str | Path, state: TrainState) -> None:
    atomic_write_text(Path(model_dir) / STATE_FILE, state.to_json())


def load_state(model_dir: str | Path) -> TrainState | None:
    """The state of an interrupted run in model_dir (its state file and last model), or None."""
    path = Path(model_dir) / STATE_FILE
    if not path.exists() or not (Path(model_dir) / LAST_MODEL).exists():
        return None
    return TrainState.from_json(path.read_text())
