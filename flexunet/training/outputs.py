"""The training stage's output names: curves, CSVs and pictures in eval_dir, and the per-epoch pictures."""

TRAIN_LOSSES_CSV = "train_losses.csv"
TRAIN_METRICS_CSV = "train_metrics.csv"
HISTORY_JSON = "history.json"
TRAIN_LOSSES_PNG = "train_losses.png"
TRAIN_METRICS_PNG = "train_metrics.png"
AUGMENTED_BATCH_PNG = "augmented_batch.png"
TENSORBOARD_DIR = "tensorboard"
EPOCH_PICTURES = "epoch_*.png"


def epoch_picture(epoch: int) -> str:
    """The name of epoch `epoch`'s picture in epoch_change_infer_dir."""
    return f"epoch_{epoch:04d}.png"
