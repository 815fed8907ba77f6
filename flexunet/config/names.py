"""The names a config may give for losses, metrics and optimizers (no Keras import: configs check them)."""

# The cells head ([model] head = "cells"): one sigmoid channel each, in this order, for the whole cell
# (nucleus included), the nucleus, the cell's outline (where touching and overlapping cells part) and the
# pixels two or more cells cover; its losses and metrics read the channels by these positions.
HEADS = ("classes", "cells")
CELL_CHANNELS = ("cell", "nucleus", "border", "overlap")
CELLS_LOSSES = ("cells_loss",)
CELLS_METRICS = ("cells_dice_cell", "cells_dice_nucleus", "cells_dice_border", "cells_dice_overlap", "cells_mask_dice")
CELLS_NAMES = (*CELLS_LOSSES, *CELLS_METRICS)
LOSS_NAMES = ("binary_crossentropy", "dice_loss", "bce_dice_loss", "jacard_loss", "iou_loss", "bce_iou_loss",
              "ssim_loss", "basnet_hybrid_loss", "categorical_crossentropy", "cce_dice_loss", *CELLS_LOSSES)
METRIC_NAMES = ("binary_accuracy", "dice_coef", "jacard_similarity", "iou_coef", "sensitivity", "specificity",
                "mask_dice", "dice_nucleus", "dice_cytoplasm", *CELLS_METRICS, *LOSS_NAMES)
# Losses whose batch value is the mean of per-image values (per-pixel means, per-image IoU or SSIM), so
# val_loss is the same at any validation batch size; the Dice and Jaccard losses pool over the batch.
PER_IMAGE_LOSSES = ("binary_crossentropy", "iou_loss", "bce_iou_loss", "ssim_loss", "categorical_crossentropy")
# What each head can use: a softmax head of C > 1 classes takes these; a sigmoid head all others and the
# class-agnostic ones among these (dice_loss, dice_coef, mask_dice, dice_nucleus).
MULTI_CLASS_NAMES = ("categorical_crossentropy", "cce_dice_loss", "dice_loss", "dice_coef", "mask_dice",
                     "dice_nucleus", "dice_cytoplasm")
MULTI_CLASS_ONLY = ("categorical_crossentropy", "cce_dice_loss", "dice_cytoplasm")
PROGRESS_METRIC = "mask_dice"  # always compiled: the Dice of the masks as written, in the progress line
CELLS_PROGRESS_METRIC = "cells_mask_dice"  # the same for the cells head: the mean of its cell and nucleus Dice
OPTIMIZER_NAMES = ("adam", "adamw", "sgd", "rmsprop")


def progress_metric(head: str) -> str:
    """The metric always compiled for a head: the Dice of the masks as written."""
    return CELLS_PROGRESS_METRIC if head == "cells" else PROGRESS_METRIC
