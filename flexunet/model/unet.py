"""The seed's slightly flexible UNet: a validating factory and a layer-wiring builder."""

import keras
from keras import layers

from flexunet.config.levels import level_dilations, level_kernels, size_problem
from flexunet.config.names import CELL_CHANNELS, HEADS
from flexunet.errors import ModelError


def _conv(filters, kernel, dilation, name, dtype):
    return layers.Conv2D(
        filters, kernel, activation="relu", kernel_initializer="he_normal",
        dilation_rate=dilation, padding="same", name=name, dtype=dtype,
    )


def conv_block(x: keras.KerasTensor, filters: int, kernel: int, dilation: int, dropout: float,
               normalization: bool, prefix: str, dtype: str, momentum: float = 0.99) -> keras.KerasTensor:
    """conv-relu [BN] dropout conv-relu [BN], as the seed's encoder and decoder levels."""
    x = _conv(filters, kernel, dilation, f"{prefix}_conv1", dtype)(x)
    if normalization:
        x = layers.BatchNormalization(momentum=momentum, name=f"{prefix}_bn1", dtype=dtype)(x)
    x = layers.Dropout(dropout, name=f"{prefix}_drop", dtype=dtype)(x)
    x = _conv(filters, kernel, dilation, f"{prefix}_conv2", dtype)(x)
    if normalization:
        x = layers.BatchNormalization(momentum=momentum, name=f"{prefix}_bn2", dtype=dtype)(x)
    return x


def decoder_block(x: keras.KerasTensor, skip: keras.KerasTensor, filters: int, kernel: int, dilation: int,
                  dropout: float, normalization: bool, prefix: str, dtype: str,
                  momentum: float = 0.99) -> keras.KerasTensor:
    """2x2 stride-2 transposed conv, concatenation with the skip, then a conv block."""
    x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"{prefix}_up", dtype=dtype)(x)
    x = layers.Concatenate(name=f"{prefix}_concat", dtype=dtype)([x, skip])
    return conv_block(x, filters, kernel, dilation, dropout, normalization, prefix, dtype, momentum)


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
    head: str = "classes",
    norm_momentum: float = 0.99,
    nucleus_decoder: bool = False,
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
                       normalization, f"enc{i}", dtype, norm_momentum)
        skips.append(x)
        if i < num_layers - 1:
            x = layers.MaxPooling2D(2, name=f"enc{i}_pool", dtype=dtype)(x)
    bridge = x
    for f in range(num_layers - 2, -1, -1):
        x = decoder_block(x, skips[f], base_filters * 2**f, kernels[f], dilations[f],
                          dropout_rate * f, normalization, f"dec{f}", dtype, norm_momentum)
    if head == "cells" and nucleus_decoder:
        nucleus = bridge
        for f in range(num_layers - 2, -1, -1):
            nucleus = decoder_block(nucleus, skips[f], base_filters * 2**f, kernels[f], dilations[f],
                                    dropout_rate * f, normalization, f"nuc{f}", dtype, norm_momentum)
        parts = [layers.Conv2D(1, 1, activation="sigmoid", name="head_cell", dtype="float32")(x),
                 layers.Conv2D(1, 1, activation="sigmoid", name="head_nucleus", dtype="float32")(nucleus),
                 layers.Conv2D(len(CELL_CHANNELS) - 2, 1, activation="sigmoid", name="head_border_overlap",
                               dtype="float32")(x)]
        return keras.Model(inputs, layers.Concatenate(name="head", dtype="float32")(parts), name="flexunet")
    channels = len(CELL_CHANNELS) if head == "cells" else num_classes
    activation = "sigmoid" if num_classes == 1 or head == "cells" else "softmax"
    outputs = layers.Conv2D(channels, 1, activation=activation, name="head", dtype="float32")(x)
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
    head: str = "classes",
    norm_momentum: float = 0.99,
    nucleus_decoder: bool = False,
) -> keras.Model:
    """Validate the arguments, then build the UNet (see build_unet). head "cells": one sigmoid channel per
    CELL_CHANNELS (whole cell, nucleus, outline, overlap) instead of one per class; with nucleus_decoder the
    nucleus channel comes from a second decoder (layers nuc*) on the same encoder."""
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
    if head not in HEADS:
        raise ModelError(f"head: expected one of {', '.join(HEADS)}, got {head!r}")
    if nucleus_decoder and head != "cells":
        raise ModelError(f"nucleus_decoder: expected False with head {head!r} (it needs head \"cells\"), got True")
    if not 0.0 <= norm_momentum < 1.0:
        raise ModelError(f"norm_momentum: expected 0 <= momentum < 1, got {norm_momentum}")
    return build_unet(image_size, channels, num_classes, base_filters, num_layers, base_kernel,
                      base_dilation, dropout_rate, normalization, mixed_precision, head, norm_momentum,
                      nucleus_decoder)
