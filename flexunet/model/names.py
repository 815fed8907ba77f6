"""The names a config may give for losses, metrics and optimizers (no Keras import: configs check them)."""

LOSS_NAMES = ("binary_crossentropy", "dice_loss", "bce_dice_loss", "jacard_loss", "iou_loss", "bce_iou_loss",
              "ssim_loss", "basnet_hybrid_loss")
METRIC_NAMES = ("binary_accuracy", "dice_coef", "jacard_similarity", "iou_coef", "sensitivity", "specificity",
                *LOSS_NAMES)
OPTIMIZER_NAMES = ("adam", "adamw", "sgd", "rmsprop")
