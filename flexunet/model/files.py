"""The model stage's output names: the files of a trained model in model_dir and its ensemble members."""

from collections.abc import Sequence
from pathlib import Path

BEST_MODEL = "best_model.keras"
LAST_MODEL = "last_model.keras"
STATE_FILE = "train_state.json"
INFO_FILE = "model_info.json"
MEMBER_PREFIX = "member_"
SUMMARY_TXT = "summary.txt"
GRAPH_PNG = "model.png"


def member_dir(folder: str | Path, index: int) -> str:
    """The folder of ensemble member `index` inside a model_dir or eval_dir."""
    return str(Path(folder) / f"{MEMBER_PREFIX}{index}")


def best_model_files(model_dir: str | Path, members: Sequence[str] = ()) -> list[Path]:
    """The best model of each ensemble member in model_dir, or the single one when there are none."""
    root = Path(model_dir)
    return [root / m / BEST_MODEL for m in members] or [root / BEST_MODEL]
