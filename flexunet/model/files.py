"""The files of a trained model in model_dir: their names, ensemble members, and model_info.json."""

import json
from collections.abc import Sequence
from pathlib import Path

from flexunet.errors import ModelError
from flexunet.fsutil import atomic_write_text

BEST_MODEL = "best_model.keras"
LAST_MODEL = "last_model.keras"
STATE_FILE = "train_state.json"
INFO_FILE = "model_info.json"
MEMBER_PREFIX = "member_"


def member_dir(folder: str | Path, index: int) -> str:
    """The folder of ensemble member `index` inside a model_dir or eval_dir."""
    return str(Path(folder) / f"{MEMBER_PREFIX}{index}")


def best_model_files(model_dir: str | Path, members: Sequence[str] = ()) -> list[Path]:
    """The best model of each ensemble member in model_dir, or the single one when there are none."""
    root = Path(model_dir)
    return [root / m / BEST_MODEL for m in members] or [root / BEST_MODEL]


def write_info(model_dir: str | Path, info: dict) -> None:
    atomic_write_text(Path(model_dir) / INFO_FILE, json.dumps(info, indent=1, default=str))


def read_info(model_dir: str | Path) -> dict:
    """model_info.json of a trained model_dir; {} when there is none."""
    path = Path(model_dir) / INFO_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot be read as JSON ({exc})") from exc
