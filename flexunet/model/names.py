"""The names a config may give for losses, metrics and optimizers (no Keras import: configs check them)."""

LOSS_NAMES = ("binary_crossentropy", "dice_loss", "bce_dice_loss", "jacard_loss", "iou_loss", "bce_iou_loss",
              "ssim_loss", "basnet_hybrid_loss", "categorical_crossentropy", "cce_dice_loss")
METRIC_NAMES = ("binary_accuracy", "dice_coef", "jacard_similarity", "iou_coef", "sensitivity", "specificity",
                "mask_dice", "dice_nucleus", "dice_cytoplasm", *LOSS_NAMES)
# Losses whose batch value is the mean of per-image values (per-pixel means, per-image IoU or SSIM), so
# val_loss is the same at any validation batch size; the Dice and Jaccard losses pool over the batch.
PER_IMAGE_LOSSES = ("binary_crossentropy", "iou_loss", "bce_iou_loss", "ssim_loss", "categorical_crossentropy")
# What each head can use: a softmax head of C > 1 classes takes these; a sigmoid head all others and the
# class-agnostic ones among these (dice_loss, dice_coef, mask_dice, dice_nucleus).
MULTI_CLASS_NAMES = ("categorical_crossentropy", "cce_dice_loss", "dice_loss", "dice_coef", "mask_dice",
                     "dice_nucleus", "dice_cytoplasm")
MULTI_CLASS_ONLY = ("categorical_crossentropy", "cce_dice_loss", "dice_cytoplasm")
PROGRESS_METRIC = "mask_dice"  # always compiled: the Dice of the masks as written, in the progress line
OPTIMIZER_NAMES = ("adam", "adamw", "sgd", "rmsprop")
