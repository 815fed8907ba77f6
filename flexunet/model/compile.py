"""Compile a UNet with the loss, metrics and optimizer a config names (looked up in one dict each)."""

import keras

from flexunet.config.names import progress_metric
from flexunet.model.losses import LOSSES, METRICS, BatchLoss
from flexunet.registry import look_up_option

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


def resolve_jit(jit_compile: bool | None) -> bool | str:
    """None means XLA where it helps: on for JAX ('auto'), off for TensorFlow on CPU."""
    if jit_compile is not None:
        return jit_compile
    return "auto" if keras.backend.backend() == "jax" else False


def make_optimizer(name: str, learning_rate: float, clipvalue: float | None, what: str = "optimizer",
                   *, ema_momentum: float | None = None) -> keras.optimizers.Optimizer:
    """An optimizer from the registry; clipvalue None means no clipping, ema_momentum None no EMA."""
    cls = look_up_option(name.lower(), OPTIMIZERS, what)
    kwargs = {"learning_rate": learning_rate}
    if clipvalue is not None:
        kwargs["clipvalue"] = clipvalue
    if ema_momentum is not None:
        kwargs.update(use_ema=True, ema_momentum=ema_momentum)
    return cls(**kwargs)


def compile_unet(
    model: keras.Model,
    loss: str,
    metrics: tuple[str, ...],
    optimizer: str = "adam",
    learning_rate: float = 1e-4,
    clipvalue: float | None = None,
    jit_compile: bool | None = None,
    ema_momentum: float | None = None,
    head: str = "classes",
) -> keras.Model:
    """Compile with registry names for loss, metrics and optimizer; the head's progress metric (mask_dice, or
    cells_mask_dice for the cells head) is always among the metrics, so the progress line and curves show
    the Dice of the masks a user gets."""
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate, clipvalue, ema_momentum=ema_momentum),
        loss=BatchLoss(look_up_option(loss, LOSSES, "loss").__name__),
        metrics=[look_up_option(m, METRICS, "metrics") for m in dict.fromkeys([*metrics, progress_metric(head)])],
        jit_compile=resolve_jit(jit_compile),
    )
    return model
