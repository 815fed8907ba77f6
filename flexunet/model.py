"""The seed's slightly flexible UNet: a validating factory, a layer-wiring builder, and compile."""

import keras
from keras import layers

from flexunet.errors import ModelError
from flexunet.losses import LOSSES, METRICS, BatchLoss
from flexunet.registry import look_up_option

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


def level_kernels(base_kernel: int, num_layers: int) -> list[int]:
    """Kernel size per level: base, base-2, ... never below 3 after the first level."""
    sizes, k = [], base_kernel
    for _ in range(num_layers):
        sizes.append(k)
        k = max(3, k - 2)
    return sizes


def level_dilations(base_dilation: int, num_layers: int) -> list[int]:
    """Dilation per level: base, base-1, ... never below 1."""
    rates, d = [], base_dilation
    for _ in range(num_layers):
        rates.append(d)
        d = max(1, d - 1)
    return rates


def size_problem(size: int, num_layers: int) -> str | None:
    """Why `size` cannot be halved num_layers-1 times, or None when it can."""
    factor = 2 ** (num_layers - 1)
    if size % factor:
        lower, upper = (size // factor) * factor, (size // factor + 1) * factor
        options = " or ".join(str(v) for v in (lower, upper) if v > 0)
        return (
            f"expected a multiple of {factor} (num_layers = {num_layers} halves it "
            f"{num_layers - 1} times), got {size}; use {options}"
        )
    return None


def _conv(filters, kernel, dilation, name, dtype):
    return layers.Conv2D(
        filters, kernel, activation="relu", kernel_initializer="he_normal",
        dilation_rate=dilation, padding="same", name=name, dtype=dtype,
    )


def conv_block(x: keras.KerasTensor, filters: int, kernel: int, dilation: int, dropout: float,
               normalization: bool, prefix: str, dtype: str) -> keras.KerasTensor:
    """conv-relu [BN] dropout conv-relu [BN], as the seed's encoder and decoder levels."""
    x = _conv(filters, kernel, dilation, f"{prefix}_conv1", dtype)(x)
    if normalization:
        x = layers.BatchNormalization(name=f"{prefix}_bn1", dtype=dtype)(x)
    x = layers.Dropout(dropout, name=f"{prefix}_drop", dtype=dtype)(x)
    x = _conv(filters, kernel, dilation, f"{prefix}_conv2", dtype)(x)
    if normalization:
        x = layers.BatchNormalization(name=f"{prefix}_bn2", dtype=dtype)(x)
    return x


def decoder_block(x: keras.KerasTensor, skip: keras.KerasTensor, filters: int, kernel: int, dilation: int,
                  dropout: float, normalization: bool, prefix: str, dtype: str) -> keras.KerasTensor:
    """2x2 stride-2 transposed conv, concatenation with the skip, then a conv block."""
    x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"{prefix}_up", dtype=dtype)(x)
    x = layers.Concatenate(name=f"{prefix}_concat", dtype=dtype)([x, skip])
    return conv_block(x, filters, kernel, dilation, dropout, normalization, prefix, dtype)


def build_unet(
    image_size: tuple[int, int],
    channels: int,
    num_classes: int,
    base_filters: int,
    num_layers: int,
    base_kernel: int,
    base_dilation: int,
    dropout_rate: float,
    normalization: bool,
    mixed_precision: bool = False,
) -> keras.Model:
    """Wire the UNet; call create_unet for validated arguments."""
    dtype = "mixed_bfloat16" if mixed_precision else "float32"
    kernels = level_kernels(base_kernel, num_layers)
    dilations = level_dilations(base_dilation, num_layers)
    inputs = keras.Input((*image_size, channels), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale", dtype=dtype)(inputs)
    skips = []
    for i in range(num_layers):
        x = conv_block(x, base_filters * 2**i, kernels[i], dilations[i], dropout_rate * i,
                       normalization, f"enc{i}", dtype)
        skips.append(x)
        if i < num_layers - 1:
            x = layers.MaxPooling2D(2, name=f"enc{i}_pool", dtype=dtype)(x)
    for f in range(num_layers - 2, -1, -1):
        x = decoder_block(x, skips[f], base_filters * 2**f, kernels[f], dilations[f],
                          dropout_rate * f, normalization, f"dec{f}", dtype)
    activation = "sigmoid" if num_classes == 1 else "softmax"
    outputs = layers.Conv2D(num_classes, 1, activation=activation, name="head", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="flexunet")


def create_unet(
    image_size: tuple[int, int],
    channels: int = 3,
    num_classes: int = 1,
    base_filters: int = 16,
    num_layers: int = 5,
    base_kernel: int = 3,
    base_dilation: int = 1,
    dropout_rate: float = 0.05,
    normalization: bool = False,
    mixed_precision: bool = False,
) -> keras.Model:
    """Validate the arguments, then build the UNet (see build_unet)."""
    if num_layers < 2:
        raise ModelError(f"num_layers: expected an int >= 2, got {num_layers}")
    for label, size in zip(("height", "width"), image_size):
        problem = size_problem(size, num_layers)
        if problem:
            raise ModelError(f"image {label}: {problem}")
    if base_kernel < 1 or base_kernel % 2 == 0:
        raise ModelError(f"base_kernels: expected an odd int >= 1, got {base_kernel}")
    if not 0.0 <= dropout_rate * (num_layers - 1) < 1.0:
        raise ModelError(
            f"dropout_rate: expected dropout_rate x (num_layers - 1) < 1 (deepest level's rate), "
            f"got {dropout_rate} x {num_layers - 1} = {dropout_rate * (num_layers - 1):g}"
        )
    if base_filters < 1 or channels < 1 or num_classes < 1 or base_dilation < 1:
        raise ModelError("base_filters, image_channels, num_classes and dilation must be >= 1")
    return build_unet(image_size, channels, num_classes, base_filters, num_layers, base_kernel,
                      base_dilation, dropout_rate, normalization, mixed_precision)


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
) -> keras.Model:
    """Compile with registry names for loss, metrics and optimizer."""
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate, clipvalue, ema_momentum=ema_momentum),
        loss=BatchLoss(look_up_option(loss, LOSSES, "loss").__name__),
        metrics=[look_up_option(m, METRICS, "metrics") for m in metrics],
        jit_compile=resolve_jit(jit_compile),
    )
    return model
