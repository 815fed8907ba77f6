"""The record of a trained model (model_info.json): how it was trained and how its output becomes masks.

This module is the one place that knows the file's keys: training writes a ModelRecord, evaluation,
inference, export and the benchmarks read one. Files written by earlier versions load (missing keys
take their defaults).
"""

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from flexunet.errors import ModelError
from flexunet.fsutil import atomic_write_text
from flexunet.model.files import INFO_FILE


@dataclass(frozen=True)
class TrainingRun:
    """One UNet's training: the epoch of its best val_loss, epochs run, and the batch sizes it used."""

    best_epoch: int | None = None
    best_val_loss: float | None = None
    epochs_run: int = 0
    batch_size: int | None = None
    validation_batch_size: int | None = None


@dataclass(frozen=True)
class RuleOption:
    """One clean-up choice scored on validation: its best threshold and that threshold's pixel Dice."""

    keep_largest: bool
    fill_holes: bool
    threshold: float
    validation_dice: float | None


@dataclass(frozen=True)
class CellRule:
    """How a cells head's channels become cells, chosen on validation: the thresholds of the whole-cell,
    nucleus and overlap channels, the smallest nucleus kept (pixels at the model's scale), whether holes
    are filled, the ring around each nucleus (pixels at the model's scale) where the outline channel is
    not read (a nucleus's own edge can look like an outline there), and how touching cells are parted
    (cell_split: "outline" at the outlines the model sees, or "distance" from their nuclei); `validation`
    holds the scores the choice was made on."""

    cell_threshold: float = 0.5
    nucleus_threshold: float = 0.5
    overlap_threshold: float = 0.5
    min_nucleus_px: int = 0
    fill_holes: bool = True
    nucleus_ring_px: int = 4
    cell_split: str = "outline"
    validation: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class ModelRecord:
    """What training leaves in model_dir/model_info.json.

    threshold, keep_largest, fill_holes: the mask rule chosen on validation (validation_dice its pixel
    Dice, validation_options every clean-up's best); run: this model's training (None for an ensemble,
    whose members' runs are in member_runs); members: the member folders of an ensemble;
    member_base_filters, member_validation and threshold_from describe an ensemble's members;
    cells: the rule of a cells head; model: the [model] keys that fix the architecture; backend and
    config: where it was trained.
    """

    threshold: float = 0.5
    keep_largest: bool = False
    fill_holes: bool = False
    validation_dice: float | None = None
    validation_options: tuple[RuleOption, ...] = ()
    run: TrainingRun | None = None
    members: tuple[str, ...] = ()
    member_runs: tuple[TrainingRun, ...] = ()
    member_base_filters: tuple[int, ...] = ()
    member_validation: tuple[str, ...] = ()
    threshold_from: str | None = None
    cells: CellRule | None = None
    model: dict = field(default_factory=dict)
    backend: str | None = None
    config: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of model_info.json (a single model's run keys at the top level, as always)."""
        data: dict[str, Any] = {"threshold": self.threshold, "keep_largest": self.keep_largest,
                                "fill_holes": self.fill_holes, "validation_dice": self.validation_dice}
        if self.validation_options:
            data["validation_options"] = [_plain(o) for o in self.validation_options]
        if self.run is not None:
            data.update(_plain(self.run))
        if self.members:
            data["members"] = list(self.members)
            data["member_runs"] = [_plain(r) for r in self.member_runs]
        if self.member_base_filters:
            data["member_base_filters"] = list(self.member_base_filters)
        if self.member_validation:
            data["member_validation"] = list(self.member_validation)
        if self.threshold_from:
            data["threshold_from"] = self.threshold_from
        if self.cells is not None:
            cells = _plain(self.cells)
            cells["validation"] = dict(self.cells.validation)
            data["cells"] = cells
        data.update(model=dict(self.model), backend=self.backend, config=self.config)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelRecord":
        """The record of a model_info.json object (keys an earlier version did not write take defaults)."""
        run_keys = [f.name for f in fields(TrainingRun)]
        run = TrainingRun(**{k: data[k] for k in run_keys if k in data}) if "epochs_run" in data else None
        cells = None
        if isinstance(data.get("cells"), dict):
            raw = dict(data["cells"])
            validation = tuple((str(k), float(v)) for k, v in dict(raw.pop("validation", {})).items())
            cells = CellRule(**{k: v for k, v in raw.items() if k in CellRule.__dataclass_fields__},
                             validation=validation)
        return cls(
            threshold=float(data.get("threshold", 0.5)),
            keep_largest=bool(data.get("keep_largest", False)),
            fill_holes=bool(data.get("fill_holes", False)),
            validation_dice=data.get("validation_dice"),
            validation_options=tuple(RuleOption(**o) for o in data.get("validation_options", ())),
            run=run,
            members=tuple(data.get("members", ())),
            member_runs=tuple(TrainingRun(**{k: r.get(k) for k in run_keys if k in r})
                              for r in data.get("member_runs", ())),
            member_base_filters=tuple(data.get("member_base_filters") or ()),
            member_validation=tuple(data.get("member_validation") or ()),
            threshold_from=data.get("threshold_from"),
            cells=cells,
            model=dict(data.get("model") or {}),
            backend=data.get("backend"),
            config=data.get("config"),
        )

    @classmethod
    def from_json(cls, text: str) -> "ModelRecord":
        return cls.from_dict(json.loads(text))

    def with_rule(self, threshold: float, keep_largest: bool, fill_holes: bool) -> "ModelRecord":
        return replace(self, threshold=threshold, keep_largest=keep_largest, fill_holes=fill_holes)


def _plain(obj) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def write_record(model_dir: str | Path, record: ModelRecord) -> None:
    """Write model_dir/model_info.json atomically."""
    atomic_write_text(Path(model_dir) / INFO_FILE, record.to_json())


def read_record(model_dir: str | Path) -> ModelRecord | None:
    """The record in model_dir/model_info.json, or None when there is none; ModelError when unreadable."""
    path = Path(model_dir) / INFO_FILE
    if not path.exists():
        return None
    try:
        return ModelRecord.from_json(path.read_text())
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ModelError(f"{path}: cannot be read as a model record ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
