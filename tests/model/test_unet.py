"""The UNet factory: parameter count of the seed model, per-level kernels/dilations, layer names."""

import re

import keras
import numpy as np
import pytest

from flexunet.config import load_config
from flexunet.config.levels import level_dilations, level_kernels, size_problem
from flexunet.errors import ConfigError, ModelError
from flexunet.model.compile import compile_unet, make_optimizer
from flexunet.model.store import unet_from_section
from flexunet.model.unet import create_unet


def test_seed_config_unet_has_the_seed_parameter_count(seed_config):
    model = unet_from_section(load_config(seed_config).model)
    assert model.count_params() == 31_110_001
    assert model.input_shape == (None, 128, 128, 3)
    assert model.output_shape == (None, 128, 128, 1)


@pytest.mark.parametrize("base, levels, expected", [
    (7, 5, [7, 5, 3, 3, 3]),
    (3, 3, [3, 3, 3]),
    (5, 2, [5, 3]),
    (9, 4, [9, 7, 5, 3]),
    (11, 7, [11, 9, 7, 5, 3, 3, 3]),
])
def test_level_kernels(base, levels, expected):
    assert level_kernels(base, levels) == expected


@pytest.mark.parametrize("base, levels, expected", [
    (3, 5, [3, 2, 1, 1, 1]),
    (1, 3, [1, 1, 1]),
    (2, 2, [2, 1]),
    (4, 4, [4, 3, 2, 1]),
])
def test_level_dilations(base, levels, expected):
    assert level_dilations(base, levels) == expected


@pytest.mark.parametrize("size, levels, expected", [
    (64, 3, None),
    (128, 7, None),
    (100, 7, "expected a multiple of 64 (num_layers = 7 halves it 6 times), got 100; use 64 or 128"),
    (30, 6, "expected a multiple of 32 (num_layers = 6 halves it 5 times), got 30; use 32"),
    (66, 3, "expected a multiple of 4 (num_layers = 3 halves it 2 times), got 66; use 64 or 68"),
])
def test_size_problem(size, levels, expected):
    assert size_problem(size, levels) == expected


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    return create_unet((64, 64), channels=3, base_filters=4, num_layers=3, base_kernel=5,
                       base_dilation=2, dropout_rate=0.1)


def test_layer_names_are_stable(tiny):
    names = [layer.name for layer in tiny.layers]
    expected = ["image", "rescale",
                "enc0_conv1", "enc0_drop", "enc0_conv2", "enc0_pool",
                "enc1_conv1", "enc1_drop", "enc1_conv2", "enc1_pool",
                "enc2_conv1", "enc2_drop", "enc2_conv2",
                "dec1_up", "dec1_concat", "dec1_conv1", "dec1_drop", "dec1_conv2",
                "dec0_up", "dec0_concat", "dec0_conv1", "dec0_drop", "dec0_conv2",
                "head"]
    assert names == expected
    assert isinstance(tiny.get_layer("rescale"), keras.layers.Rescaling)
    assert tiny.get_layer("rescale").scale == pytest.approx(1 / 255)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in tiny.layers)


def test_kernels_dilations_filters_per_level(tiny):
    # base_kernel 5 -> [5, 3, 3]; base_dilation 2 -> [2, 1, 1]; filters 4 * 2**level.
    for prefix, kernel, dilation, filters in (("enc0", 5, 2, 4), ("enc1", 3, 1, 8), ("enc2", 3, 1, 16),
                                              ("dec1", 3, 1, 8), ("dec0", 5, 2, 4)):
        for conv in ("conv1", "conv2"):
            layer = tiny.get_layer(f"{prefix}_{conv}")
            assert layer.kernel_size == (kernel, kernel), layer.name
            assert layer.dilation_rate == (dilation, dilation), layer.name
            assert layer.filters == filters, layer.name
            assert layer.padding == "same"
    assert tiny.get_layer("dec1_up").strides == (2, 2)
    assert tiny.get_layer("head").filters == 1
    assert tiny.get_layer("head").kernel_size == (1, 1)


def test_dropout_rate_times_level(tiny):
    rates = {layer.name: layer.rate for layer in tiny.layers if isinstance(layer, keras.layers.Dropout)}
    assert rates == pytest.approx({"enc0_drop": 0.0, "enc1_drop": 0.1, "enc2_drop": 0.2,
                                   "dec1_drop": 0.1, "dec0_drop": 0.0})


def test_output_shape_and_sigmoid_range(tiny):
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    y = tiny.predict(x, verbose=0)
    assert y.shape == (2, 64, 64, 1)
    assert y.dtype == np.float32
    assert np.all((y >= 0) & (y <= 1))
    assert tiny.get_layer("head").activation is keras.activations.sigmoid


def test_normalization_adds_batchnorm_after_every_conv():
    model = create_unet((32, 32), base_filters=2, num_layers=3, normalization=True)
    bn = [layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    # two convs per level: 3 encoder levels + 2 decoder levels
    assert len(bn) == 2 * (3 + 2)
    assert {"enc0_bn1", "enc0_bn2", "dec0_bn1", "dec0_bn2"} <= set(bn)
    plain = create_unet((32, 32), base_filters=2, num_layers=3, normalization=False)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in plain.layers)


def test_multiclass_head_is_softmax():
    model = create_unet((32, 32), base_filters=2, num_layers=2, num_classes=3)
    assert model.output_shape == (None, 32, 32, 3)
    assert model.get_layer("head").activation is keras.activations.softmax


def test_mixed_precision_keeps_float32_output():
    model = create_unet((32, 32), base_filters=2, num_layers=3, mixed_precision=True)
    assert model.get_layer("enc0_conv1").compute_dtype == "bfloat16"
    assert model.get_layer("enc0_conv1").variable_dtype == "float32"
    assert model.get_layer("head").compute_dtype == "float32"
    y = model.predict(np.zeros((1, 32, 32, 3), np.float32), verbose=0)
    assert y.dtype == np.float32


@pytest.mark.parametrize("kwargs, message", [
    ({"image_size": (66, 64), "num_layers": 3},
     "image height: expected a multiple of 4 (num_layers = 3 halves it 2 times), got 66; use 64 or 68"),
    ({"image_size": (64, 100), "num_layers": 4},
     "image width: expected a multiple of 8 (num_layers = 4 halves it 3 times), got 100; use 96 or 104"),
    ({"image_size": (64, 64), "num_layers": 1}, "num_layers: expected an int >= 2, got 1"),
    ({"image_size": (64, 64), "num_layers": 3, "base_kernel": 4},
     "base_kernels: expected an odd int >= 1, got 4"),
    ({"image_size": (64, 64), "num_layers": 3, "dropout_rate": 0.5},
     "dropout_rate: expected dropout_rate x (num_layers - 1) < 1 (deepest level's rate), got 0.5 x 2 = 1"),
    ({"image_size": (64, 64), "num_layers": 3, "base_filters": 0},
     "base_filters, image_channels, num_classes and dilation must be >= 1"),
])
def test_create_unet_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ModelError) as info:
        create_unet(**kwargs)
    assert str(info.value) == message


def test_compile_by_names():
    model = create_unet((32, 32), base_filters=2, num_layers=2)
    compile_unet(model, "bce_iou_loss", ("iou_coef", "dice_coef"), optimizer="adamw",
                 learning_rate=1e-3, clipvalue=0.5, jit_compile=False)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.clipvalue == 0.5
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-3)


def test_unknown_optimizer_name():
    with pytest.raises(ConfigError) as info:
        make_optimizer("adma", 1e-3, None, "[model] optimizer in x.config")
    assert str(info.value).startswith("[model] optimizer in x.config: unknown name 'adma' "
                                      "(did you mean 'adam'?); choices: adam, adamw, rmsprop, sgd")


@pytest.mark.parametrize("head, classes, channels, activation", [
    ("classes", 1, 1, "sigmoid"), ("classes", 3, 3, "softmax"), ("cells", 3, 4, "sigmoid")])
def test_the_head_decides_the_output_channels_and_activation(head, classes, channels, activation):
    model = create_unet((32, 32), 3, classes, base_filters=2, num_layers=2, head=head)
    assert model.output_shape == (None, 32, 32, channels)
    assert model.get_layer("head").activation.__name__ == activation


def test_batch_normalization_momentum_reaches_every_layer():
    bn = [layer for layer in create_unet((32, 32), base_filters=2, num_layers=2, normalization=True,
                                         norm_momentum=0.9).layers if "_bn" in layer.name]
    assert len(bn) == 6 and {layer.momentum for layer in bn} == {0.9}
    default = create_unet((32, 32), base_filters=2, num_layers=2, normalization=True).get_layer("enc0_bn1")
    assert default.momentum == 0.99


@pytest.mark.parametrize("kwargs, message", [({"head": "instances"}, "head: expected one of classes, cells, got "
                                                                     "'instances'"),
                                             ({"norm_momentum": 1.0}, "norm_momentum: expected 0 <= momentum < 1"),
                                             ({"nucleus_decoder": True},
                                              "nucleus_decoder: expected False with head 'classes' (it needs head "
                                              "\"cells\"), got True")])
def test_bad_heads_and_momenta_are_refused(kwargs, message):
    with pytest.raises(ModelError, match=re.escape(message)):
        create_unet((32, 32), base_filters=2, num_layers=2, **kwargs)


def test_a_nucleus_decoder_of_its_own_feeds_only_the_nucleus_channel(tmp_path):
    model = create_unet((32, 32), 3, 3, base_filters=2, num_layers=3, head="cells", nucleus_decoder=True)
    plain = create_unet((32, 32), 3, 3, base_filters=2, num_layers=3, head="cells")
    assert model.output_shape == (None, 32, 32, 4)
    names = {layer.name for layer in model.layers}
    assert {"nuc1_up", "nuc0_conv2", "head_cell", "head_nucleus", "head_border_overlap", "head"} <= names
    # one decoder more: the two decoder levels' weights again, and a 1x1 head per output instead of one of four
    decoder = sum(layer.count_params() for layer in plain.layers if layer.name.startswith("dec"))
    assert model.count_params() == plain.count_params() + decoder
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    probs = model.predict_on_batch(x)
    assert probs.shape == (2, 32, 32, 4) and 0.0 <= probs.min() and probs.max() <= 1.0
    nucleus_only = keras.Model(model.input, model.get_layer("head_nucleus").output)
    np.testing.assert_allclose(probs[..., 1:2], nucleus_only.predict_on_batch(x), rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras").predict_on_batch(x), probs, rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("decoder, recorded", [(False, False), (True, True)])
def test_the_signature_names_the_nucleus_decoder_only_when_on(decoder, recorded):
    from dataclasses import replace

    from flexunet.config.sections import ModelSection
    from flexunet.model.store import model_signature

    signature = model_signature(replace(ModelSection(), head="cells", num_classes=3, nucleus_decoder=decoder))
    assert ("nucleus_decoder" in signature) is recorded and signature["head"] == "cells"
