"""Losses and metrics by name, on keras.ops, registered so saved .keras models reload."""

from typing import Any

import keras
import numpy as np
from keras import ops

Tensor = Any  # a backend tensor: tf.Tensor, jax.Array or numpy array

EPSILON = 1e-7
SMOOTH = 1.0


def _register(fn):
    return keras.saving.register_keras_serializable(package="flexunet", name=fn.__name__)(fn)


def _f32(y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor]:
    return ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")


@_register
def binary_crossentropy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Mean over all pixels of -[y log p + (1-y) log(1-p)], with p clipped to [1e-7, 1-1e-7]."""
    y, p = _f32(y_true, y_pred)
    p = ops.clip(p, EPSILON, 1.0 - EPSILON)
    return -ops.mean(y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p))


@_register
def binary_accuracy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Fraction of pixels where (p > 0.5) equals y."""
    y, p = _f32(y_true, y_pred)
    return ops.mean(ops.cast(ops.equal(y, ops.cast(p > 0.5, "float32")), "float32"))


def _foreground(y: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
    """The channels that count for Dice: the one channel of a sigmoid head, or classes 1 .. C-1 of a
    softmax head (the background, class 0, left out)."""
    return (y, p) if p.shape[-1] == 1 else (y[..., 1:], p[..., 1:])


@_register
def dice_coef(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """(2 sum(y p) + 1) / (sum(y) + sum(p) + 1), sums over the whole batch (smooth = 1); with C > 1
    classes the mean of that over the foreground classes 1 .. C-1."""
    y, p = _foreground(*_f32(y_true, y_pred))
    axes = tuple(range(len(y.shape) - 1))
    intersection = ops.sum(y * p, axis=axes)
    return ops.mean((2.0 * intersection + SMOOTH) / (ops.sum(y, axis=axes) + ops.sum(p, axis=axes) + SMOOTH))


@_register
def dice_loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """1 - dice_coef."""
    return 1.0 - dice_coef(y_true, y_pred)


@_register
def categorical_crossentropy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Mean over pixels of -sum_k y_k log p_k over the C classes of a softmax head, p clipped to [1e-7, 1]."""
    y, p = _f32(y_true, y_pred)
    return -ops.mean(ops.sum(y * ops.log(ops.clip(p, EPSILON, 1.0)), axis=-1))


@_register
def cce_dice_loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """categorical_crossentropy + dice_loss (the Dice mean over the foreground classes)."""
    return categorical_crossentropy(y_true, y_pred) + dice_loss(y_true, y_pred)


@_register
def bce_dice_loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """(binary_crossentropy + dice_loss) / 2."""
    return (binary_crossentropy(y_true, y_pred) + dice_loss(y_true, y_pred)) / 2.0


@_register
def jacard_similarity(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """sum(y p) / (sum(y + p - y p) + 1e-7), sums over the whole batch (Jaccard index)."""
    y, p = _f32(y_true, y_pred)
    intersection = ops.sum(y * p)
    return intersection / (ops.sum(y + p - y * p) + EPSILON)


@_register
def jacard_loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """1 - jacard_similarity."""
    return 1.0 - jacard_similarity(y_true, y_pred)


def _per_image_sum(x):
    return ops.sum(ops.reshape(x, (ops.shape(x)[0], -1)), axis=1)


@_register
def iou_coef(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Mean over images of (sum|y p| + 1) / (sum(y) + sum(p) - sum|y p| + 1) (smooth = 1)."""
    y, p = _f32(y_true, y_pred)
    intersection = _per_image_sum(ops.abs(y * p))
    union = _per_image_sum(y) + _per_image_sum(p) - intersection
    return ops.mean((intersection + SMOOTH) / (union + SMOOTH))


@_register
def iou_loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """1 - iou_coef."""
    return 1.0 - iou_coef(y_true, y_pred)


@_register
def bce_iou_loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """(binary_crossentropy + 1 - iou_coef) / 2."""
    return (binary_crossentropy(y_true, y_pred) + iou_loss(y_true, y_pred)) / 2.0


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Normalised 2-D Gaussian, g(x, y) proportional to exp(-(x^2 + y^2) / (2 sigma^2))."""
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2.0 * sigma**2))
    return (g / g.sum()).astype("float32")


def ssim(y_true: Tensor, y_pred: Tensor, max_val: float = 1.0, size: int = 11, sigma: float = 1.5) -> Tensor:
    """Per-image SSIM as tf.image.ssim computes it (Gaussian 11x11, sigma 1.5, valid windows):

    SSIM = mean over windows and channels of
    (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)),
    C1 = (0.01 max_val)^2, C2 = (0.03 max_val)^2.
    """
    x, y = _f32(y_true, y_pred)
    channels = x.shape[-1]
    kernel = np.repeat(gaussian_window(size, sigma)[:, :, None, None], channels, axis=2)
    kernel = ops.convert_to_tensor(kernel)

    def blur(t):
        return ops.depthwise_conv(t, kernel, strides=1, padding="valid")

    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    mu_x, mu_y = blur(x), blur(y)
    sigma_x = blur(x * x) - mu_x * mu_x
    sigma_y = blur(y * y) - mu_y * mu_y
    sigma_xy = blur(x * y) - mu_x * mu_y
    luminance = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    contrast_structure = (2.0 * sigma_xy + c2) / (sigma_x + sigma_y + c2)
    return ops.mean(luminance * contrast_structure, axis=(1, 2, 3))


@_register
def ssim_loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Mean over images of 1 - SSIM(y, p) with max_val = 1."""
    return ops.mean(1.0 - ssim(y_true, y_pred))


@_register
def basnet_hybrid_loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """binary_crossentropy + ssim_loss + jacard_loss (BASNet hybrid loss)."""
    return (
        binary_crossentropy(y_true, y_pred)
        + ssim_loss(y_true, y_pred)
        + jacard_loss(y_true, y_pred)
    )


@_register
def sensitivity(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """sum(round(clip(y p, 0, 1))) / (sum(round(clip(y, 0, 1))) + 1e-7): recall of nucleus pixels."""
    y, p = _f32(y_true, y_pred)
    true_positives = ops.sum(ops.round(ops.clip(y * p, 0.0, 1.0)))
    possible = ops.sum(ops.round(ops.clip(y, 0.0, 1.0)))
    return true_positives / (possible + EPSILON)


@_register
def specificity(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """sum(round(clip((1-y)(1-p), 0, 1))) / (sum(round(clip(1-y, 0, 1))) + 1e-7)."""
    y, p = _f32(y_true, y_pred)
    true_negatives = ops.sum(ops.round(ops.clip((1.0 - y) * (1.0 - p), 0.0, 1.0)))
    possible = ops.sum(ops.round(ops.clip(1.0 - y, 0.0, 1.0)))
    return true_negatives / (possible + EPSILON)


def _hard_masks(y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor]:
    """The masks a user gets, as 0/1 floats (B, H, W, K): with one channel, y > 0.5 and p > 0.5 (K = 1);
    with C > 1 classes, the one-hot argmax of each, background (class 0) dropped (K = C - 1)."""
    y, p = _f32(y_true, y_pred)
    classes = p.shape[-1]
    if classes == 1:
        return ops.cast(y > 0.5, "float32"), ops.cast(p > 0.5, "float32")
    truth = ops.one_hot(ops.argmax(y, axis=-1), classes)[..., 1:]
    pred = ops.one_hot(ops.argmax(p, axis=-1), classes)[..., 1:]
    return truth, pred


@_register
def mask_dice(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Dice of the masks as written, pooled over the batch: t = y > 0.5, m = p > 0.5 (with C > 1 classes,
    the argmax's one-hot, per foreground class k, then the mean over k) and
    Dice_k = 2 sum(t_k m_k) / (sum(t_k) + sum(m_k)), 1 when both are empty.

    Unlike dice_coef it is not dragged down by small probabilities on the background, so on sparse
    objects (a few nuclei in a large field) it tells how good the masks are.
    """
    t, m = _hard_masks(y_true, y_pred)
    axes = tuple(range(len(t.shape) - 1))
    intersection = ops.sum(t * m, axis=axes)
    total = ops.sum(t, axis=axes) + ops.sum(m, axis=axes)
    return ops.mean(ops.where(total > 0, 2.0 * intersection / ops.maximum(total, 1.0), 1.0))


def _class_dice(y_true: Tensor, y_pred: Tensor, channel: int) -> Tensor:
    t, m = _hard_masks(y_true, y_pred)
    t, m = t[..., channel], m[..., channel]
    total = ops.sum(t) + ops.sum(m)
    return ops.where(total > 0, 2.0 * ops.sum(t * m) / ops.maximum(total, 1.0), 1.0)


@_register
def dice_nucleus(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Dice of the nucleus masks as written (the last class: argmax == C-1; one channel: p > 0.5),
    pooled over the batch: 2 sum(t m) / (sum(t) + sum(m)), 1 when both are empty."""
    return _class_dice(y_true, y_pred, -1)


@_register
def dice_cytoplasm(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Dice of the cytoplasm masks as written (class 1 of 3: argmax == 1), pooled over the batch, as
    dice_nucleus."""
    return _class_dice(y_true, y_pred, 0)


def _channel_sums(y: Tensor, p: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per channel, summed over the batch and the pixels: (sum y p, sum y, sum p), each of shape (K,)."""
    axes = tuple(range(len(y.shape) - 1))
    return ops.sum(y * p, axis=axes), ops.sum(y, axis=axes), ops.sum(p, axis=axes)


@_register
def cells_loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """The cells head's loss: the mean over its K = 4 sigmoid channels (cell, nucleus, border, overlap) of
    BCE_k + 1 - Dice_k, where BCE_k = mean over pixels of -[y log p + (1-y) log(1-p)] (p clipped to
    [1e-7, 1-1e-7]) and Dice_k = (2 sum(y p) + 1) / (sum(y) + sum(p) + 1) over the batch. Each channel
    weighs the same, so neither the large cell channel nor the background can hide the small nuclei."""
    y, p = _f32(y_true, y_pred)
    p = ops.clip(p, EPSILON, 1.0 - EPSILON)
    bce = -ops.mean(y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p), axis=tuple(range(len(y.shape) - 1)))
    both, truth, pred = _channel_sums(y, p)
    dice = (2.0 * both + SMOOTH) / (truth + pred + SMOOTH)
    return ops.mean(bce + 1.0 - dice)


def _cells_hard_dice(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Per channel of the cells head, the Dice of the masks at 0.5 pooled over the batch (1 when both are empty)."""
    y, p = _f32(y_true, y_pred)
    t, m = ops.cast(y > 0.5, "float32"), ops.cast(p > 0.5, "float32")
    both, truth, pred = _channel_sums(t, m)
    total = truth + pred
    return ops.where(total > 0, 2.0 * both / ops.maximum(total, 1.0), 1.0)


@_register
def cells_dice_cell(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Dice of the whole-cell masks at p > 0.5 (cells head channel 0), pooled over the batch."""
    return _cells_hard_dice(y_true, y_pred)[0]


@_register
def cells_dice_nucleus(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Dice of the nucleus masks at p > 0.5 (cells head channel 1), pooled over the batch."""
    return _cells_hard_dice(y_true, y_pred)[1]


@_register
def cells_dice_border(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Dice of the cell outlines at p > 0.5 (cells head channel 2), pooled over the batch."""
    return _cells_hard_dice(y_true, y_pred)[2]


@_register
def cells_dice_overlap(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Dice of the overlaps (pixels of two or more cells) at p > 0.5 (cells head channel 3), pooled over the batch."""
    return _cells_hard_dice(y_true, y_pred)[3]


@_register
def cells_mask_dice(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """(cells_dice_cell + cells_dice_nucleus) / 2: the cells head's progress metric."""
    dice = _cells_hard_dice(y_true, y_pred)
    return (dice[0] + dice[1]) / 2.0


@keras.saving.register_keras_serializable(package="flexunet")
class BatchLoss(keras.losses.Loss):
    """A registry loss as Keras trains with it: the batch value, once per image.

    The registry's losses are computed over the whole batch. Keras averages per-image values
    over the global batch, so handing it the batch value for every image keeps the loss, and
    its gradient, the same on one device and on several replicas.
    """

    def __init__(self, loss_name: str = "binary_crossentropy", name: str | None = None, **kwargs):
        super().__init__(name=name or loss_name, **kwargs)
        self.loss_name = loss_name
        self.fn = LOSSES[loss_name]

    def call(self, y_true, y_pred):
        return ops.broadcast_to(self.fn(y_true, y_pred), ops.shape(y_true)[:1])

    def get_config(self) -> dict:
        return {**super().get_config(), "loss_name": self.loss_name}


LOSSES = {
    fn.__name__: fn
    for fn in (
        binary_crossentropy, dice_loss, bce_dice_loss, jacard_loss, iou_loss, bce_iou_loss,
        ssim_loss, basnet_hybrid_loss, categorical_crossentropy, cce_dice_loss, cells_loss,
    )
}

METRICS = {
    **{fn.__name__: fn for fn in (binary_accuracy, dice_coef, jacard_similarity, iou_coef,
                                  sensitivity, specificity, mask_dice, dice_nucleus, dice_cytoplasm,
                                  cells_dice_cell, cells_dice_nucleus, cells_dice_border, cells_dice_overlap,
                                  cells_mask_dice)},
    **LOSSES,
}
