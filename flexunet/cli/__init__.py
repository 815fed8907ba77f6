"""The command layer: every entry point (top-level scripts, console commands, python -m flexunet.cli)."""

from flexunet.cli.commands import (
    compare_main,
    dataset_main,
    evaluate_main,
    export_main,
    infer_main,
    infer_many_main,
    inspect_main,
    tiled_infer_main,
    train_main,
)
from flexunet.cli.generators import generate_main, split_main, synth_main
from flexunet.cli.guard import DEFAULT_CONFIG, TRAINING_INTERRUPTED, guarded

COMMANDS = {
    "train": train_main, "evaluate": evaluate_main, "infer": infer_main, "tiled-infer": tiled_infer_main,
    "infer-many": infer_many_main, "inspect": inspect_main, "dataset": dataset_main, "export": export_main,
    "compare": compare_main, "generate": generate_main, "split": split_main, "synth": synth_main,
}

__all__ = ["COMMANDS", "DEFAULT_CONFIG", "TRAINING_INTERRUPTED", "compare_main", "dataset_main", "evaluate_main",
           "export_main", "generate_main", "guarded", "infer_main", "infer_many_main", "inspect_main", "split_main",
           "synth_main", "tiled_infer_main", "train_main"]
