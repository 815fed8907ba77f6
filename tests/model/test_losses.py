"""Losses and metrics against hand-computed values and numpy references; registration and reloading."""

import math

import keras
import numpy as np
import pytest

from flexunet.config.names import MULTI_CLASS_ONLY, PER_IMAGE_LOSSES
from flexunet.model import losses
from flexunet.model.compile import compile_unet
from flexunet.model.losses import LOSSES, METRICS
from flexunet.model.unet import create_unet

# ----------------------------------------------------------------------------- hand-computed values
# Two images of 1x2 pixels:  image 0: y = [1, 0], p = [0.8, 0.3];  image 1: y = [1, 1], p = [0.6, 0.4]
Y = np.array([1, 0, 1, 1], np.float32).reshape(2, 1, 2, 1)
P = np.array([0.8, 0.3, 0.6, 0.4], np.float32).reshape(2, 1, 2, 1)

BCE = -(math.log(0.8) + math.log(0.7) + math.log(0.6) + math.log(0.4)) / 4  # = 0.501734
DICE = (2 * 1.8 + 1) / (3 + 2.1 + 1)            # sum yp = 1.8, sum y = 3, sum p = 2.1 -> 0.754098
JACARD = 1.8 / (3 + 2.1 - 1.8)                  # 0.545455
IOU = ((0.8 + 1) / (1.3 + 1) + (1.0 + 1) / (2.0 + 1)) / 2   # per image, then mean -> 0.724638
HAND = {
    "binary_crossentropy": BCE,
    "binary_accuracy": 0.75,                    # p > 0.5 -> [1, 0, 1, 0] vs y [1, 0, 1, 1]
    "dice_coef": DICE,
    "dice_loss": 1 - DICE,
    "bce_dice_loss": (BCE + 1 - DICE) / 2,
    "jacard_similarity": JACARD,
    "jacard_loss": 1 - JACARD,
    "iou_coef": IOU,
    "iou_loss": 1 - IOU,
    "bce_iou_loss": (BCE + 1 - IOU) / 2,        # the seed's loss: (BCE + 1 - IoU) / 2 -> 0.388548
    "sensitivity": 2 / 3,                       # round(yp) = [1, 0, 1, 0]; positives 3
    "specificity": 1.0,                         # round((1-y)(1-p)) = [0, 1, 0, 0]; negatives 1
}


def value(fn, y, p) -> float:
    return float(keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(y),
                                               keras.ops.convert_to_tensor(p))))


@pytest.mark.parametrize("name, expected", list(HAND.items()))
def test_hand_computed_values(name, expected):
    assert value(METRICS[name], Y, P) == pytest.approx(expected, abs=1e-5)


def test_hand_computed_literals():
    """The formulas above, as numbers (guards against a mistake in both the code and the formula)."""
    assert BCE == pytest.approx(0.501734, abs=1e-6)
    assert DICE == pytest.approx(0.754098, abs=1e-6)
    assert IOU == pytest.approx(0.724638, abs=1e-6)
    assert HAND["bce_iou_loss"] == pytest.approx(0.388548, abs=1e-6)


def test_iou_coef_is_per_image_and_dice_is_over_the_batch():
    # An empty image predicted empty has IoU (0+1)/(0+1) = 1; with a badly predicted image the
    # per-image mean differs from the pooled value.
    y = np.zeros((2, 2, 2, 1), np.float32)
    p = np.zeros((2, 2, 2, 1), np.float32)
    y[1] = 1.0                                   # image 1: all nucleus, predicted all background
    assert value(losses.iou_coef, y, p) == pytest.approx((1.0 + 1 / 5) / 2, abs=1e-6)
    assert value(losses.dice_coef, y, p) == pytest.approx(1 / (4 + 1), abs=1e-6)


def test_bce_clips_probabilities():
    y = np.array([1.0, 0.0], np.float32).reshape(1, 1, 2, 1)
    p = np.array([0.0, 1.0], np.float32).reshape(1, 1, 2, 1)
    # p = 0 is clipped to 1e-7; p = 1 to 1 - 1e-7, which is 1 - 2**-23 in float32.
    expected = -(math.log(1e-7) + math.log(2.0**-23)) / 2     # 16.030
    assert value(losses.binary_crossentropy, y, p) == pytest.approx(expected, rel=1e-3)
    assert math.isfinite(value(losses.bce_iou_loss, y, p))


# ----------------------------------------------------------------------------- numpy references


def np_bce(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def np_dice(y, p):
    return float((2 * np.sum(y * p) + 1) / (np.sum(y) + np.sum(p) + 1))


def np_jacard(y, p):
    inter = np.sum(y * p)
    return float(inter / (np.sum(y + p - y * p) + 1e-7))


def np_iou(y, p):
    scores = []
    for yi, pi in zip(y, p):
        inter = np.sum(np.abs(yi * pi))
        scores.append((inter + 1) / (np.sum(yi) + np.sum(pi) - inter + 1))
    return float(np.mean(scores))


def np_gaussian(size=11, sigma=1.5):
    c = np.arange(size) - (size - 1) / 2
    g = np.exp(-(c[:, None] ** 2 + c[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def np_ssim(x, y, max_val=1.0):
    """Per-image SSIM with an 11x11 Gaussian (sigma 1.5) over valid windows, as tf.image.ssim."""
    from numpy.lib.stride_tricks import sliding_window_view

    g = np_gaussian()
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    out = []
    for xi, yi in zip(x.astype(np.float64), y.astype(np.float64)):
        per_channel = []
        for ch in range(xi.shape[-1]):
            def blur(a):
                return np.einsum("ijkl,kl->ij", sliding_window_view(a, g.shape), g)
            a, b = xi[..., ch], yi[..., ch]
            mx, my = blur(a), blur(b)
            sx, sy, sxy = blur(a * a) - mx**2, blur(b * b) - my**2, blur(a * b) - mx * my
            s = (2 * mx * my + c1) * (2 * sxy + c2) / ((mx**2 + my**2 + c1) * (sx + sy + c2))
            per_channel.append(s)
        out.append(np.mean(per_channel))
    return np.array(out)


def np_sensitivity(y, p):
    return float(np.sum(np.round(np.clip(y * p, 0, 1))) / (np.sum(np.round(np.clip(y, 0, 1))) + 1e-7))


def np_specificity(y, p):
    return float(np.sum(np.round(np.clip((1 - y) * (1 - p), 0, 1)))
                 / (np.sum(np.round(np.clip(1 - y, 0, 1))) + 1e-7))


def np_mask_dice(y, p):
    t, m = y > 0.5, p > 0.5
    total = t.sum() + m.sum()
    return float(2 * np.sum(t & m) / total) if total else 1.0


def np_cce(y, p):
    return float(-np.mean(np.sum(y * np.log(np.clip(p, 1e-7, 1)), axis=-1)))


REFERENCES = {
    "mask_dice": np_mask_dice,
    "dice_nucleus": np_mask_dice,
    "dice_cytoplasm": np_mask_dice,  # on a one-channel head it reads that channel; configs refuse it there
    "categorical_crossentropy": np_cce,
    "cce_dice_loss": lambda y, p: np_cce(y, p) + 1 - np_dice(y, p),
    "binary_crossentropy": np_bce,
    "binary_accuracy": lambda y, p: float(np.mean(y == (p > 0.5))),
    "dice_coef": np_dice,
    "dice_loss": lambda y, p: 1 - np_dice(y, p),
    "bce_dice_loss": lambda y, p: (np_bce(y, p) + 1 - np_dice(y, p)) / 2,
    "jacard_similarity": np_jacard,
    "jacard_loss": lambda y, p: 1 - np_jacard(y, p),
    "iou_coef": np_iou,
    "iou_loss": lambda y, p: 1 - np_iou(y, p),
    "bce_iou_loss": lambda y, p: (np_bce(y, p) + 1 - np_iou(y, p)) / 2,
    "ssim_loss": lambda y, p: float(np.mean(1 - np_ssim(y, p))),
    "basnet_hybrid_loss": lambda y, p: np_bce(y, p) + float(np.mean(1 - np_ssim(y, p)))
    + 1 - np_jacard(y, p),
    "sensitivity": np_sensitivity,
    "specificity": np_specificity,
}


def np_cells_loss(y, p):
    """Mean over the 4 channels of BCE_k + 1 - Dice_k (smooth 1), each over the whole batch."""
    pc = np.clip(p, 1e-7, 1 - 1e-7)
    total = 0.0
    for k in range(4):
        yk, pk = y[..., k], pc[..., k]
        bce = -np.mean(yk * np.log(pk) + (1 - yk) * np.log(1 - pk))
        dice = (2 * np.sum(yk * pk) + 1) / (np.sum(yk) + np.sum(pk) + 1)
        total += bce + 1 - dice
    return total / 4


def np_cells_dice(k):
    return lambda y, p: np_mask_dice(y[..., k], p[..., k])


CELLS_REFERENCES = {
    "cells_loss": np_cells_loss,
    "cells_dice_cell": np_cells_dice(0),
    "cells_dice_nucleus": np_cells_dice(1),
    "cells_dice_border": np_cells_dice(2),
    "cells_dice_overlap": np_cells_dice(3),
    "cells_mask_dice": lambda y, p: (np_cells_dice(0)(y, p) + np_cells_dice(1)(y, p)) / 2,
}


def test_every_registered_name_has_a_reference():
    assert set(REFERENCES) | set(CELLS_REFERENCES) == set(METRICS)
    assert set(LOSSES) <= set(METRICS)
    assert set(LOSSES) == {"binary_crossentropy", "dice_loss", "bce_dice_loss", "jacard_loss",
                           "iou_loss", "bce_iou_loss", "ssim_loss", "basnet_hybrid_loss",
                           "categorical_crossentropy", "cce_dice_loss", "cells_loss"}


@pytest.mark.parametrize("name", sorted(CELLS_REFERENCES))
def test_cells_head_names_against_numpy_references(name):
    rng = np.random.default_rng(4)
    y = (rng.random((2, 12, 12, 4)) > np.array([0.5, 0.8, 0.9, 0.95])).astype(np.float32)
    p = np.clip(0.6 * y + 0.4 * rng.random(y.shape), 0, 1).astype(np.float32)
    assert value(METRICS[name], y, p) == pytest.approx(CELLS_REFERENCES[name](y, p), abs=1e-5)


def test_cells_loss_by_hand():
    """One 1x2 image, channels (cell, nucleus, border, overlap): y = cell [1, 1], nucleus [1, 0], border
    [0, 1], overlap [0, 0]; p = 0.5 everywhere. Each BCE is ln 2; the Dices are (2*1 + 1) / (2 + 1 + 1),
    (2*0.5 + 1) / (1 + 1 + 1), the same for the border, and 1 / (0 + 1 + 1) for the empty overlap."""
    y = np.array([[[[1, 1, 0, 0], [1, 0, 1, 0]]]], np.float32)
    p = np.full_like(y, 0.5)
    dices = [3 / 4, 2 / 3, 2 / 3, 1 / 2]
    expected = math.log(2) + 1 - sum(dices) / 4
    assert value(losses.cells_loss, y, p) == pytest.approx(expected, abs=1e-6)
    # masks at p > 0.5: nothing predicted; the empty overlap scores 1, the others 0
    assert value(losses.cells_dice_overlap, y, p) == 1.0 and value(losses.cells_dice_cell, y, p) == 0.0


def test_the_names_configs_check_are_the_registries():
    """config/names.py (read without Keras when a config is loaded) lists exactly the registered names."""
    from flexunet.config.names import LOSS_NAMES, METRIC_NAMES, MULTI_CLASS_NAMES, OPTIMIZER_NAMES
    from flexunet.model.compile import OPTIMIZERS

    assert set(LOSS_NAMES) == set(LOSSES) and set(METRIC_NAMES) == set(METRICS)
    assert set(OPTIMIZER_NAMES) == set(OPTIMIZERS) and set(MULTI_CLASS_NAMES) <= set(METRICS)


@pytest.fixture(scope="module")
def random_batch():
    rng = np.random.default_rng(3)
    y = (rng.random((2, 16, 16, 1)) > 0.6).astype(np.float32)
    p = np.clip(0.7 * y + 0.3 * rng.random((2, 16, 16, 1)), 0, 1).astype(np.float32)
    return y, p


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_against_numpy_reference(name, random_batch):
    y, p = random_batch
    assert value(METRICS[name], y, p) == pytest.approx(REFERENCES[name](y, p), abs=1e-5)


def test_ssim_matches_tf_image_ssim(random_batch):
    tf = pytest.importorskip("tensorflow")
    y, p = random_batch
    rng = np.random.default_rng(5)
    for a, b in ((y, p), (rng.random((3, 20, 24, 1)).astype(np.float32),
                          rng.random((3, 20, 24, 1)).astype(np.float32))):
        per_image = keras.ops.convert_to_numpy(losses.ssim(a, b))
        expected = tf.image.ssim(tf.constant(a), tf.constant(b), max_val=1.0).numpy()
        np.testing.assert_allclose(per_image, expected, atol=1e-5)
        np.testing.assert_allclose(per_image, np_ssim(a, b), atol=1e-5)
        assert value(losses.ssim_loss, a, b) == pytest.approx(float(np.mean(1 - expected)), abs=1e-5)


def test_ssim_of_identical_images_is_one(random_batch):
    _, p = random_batch
    assert value(losses.ssim_loss, p, p) == pytest.approx(0.0, abs=1e-5)


def test_mask_dice_is_not_dragged_down_by_the_background():
    """A 2x2 object in a 64x64 field, found exactly, with p = 0.3 on every other pixel: the soft Dice is
    (2 * 4 * 0.9 + 1) / (4 + 4 * 0.9 + 4092 * 0.3 + 1) = 8.2 / 1236.2 = 0.0066, the masks' Dice 1."""
    y = np.zeros((1, 64, 64, 1), np.float32)
    y[0, 10:12, 20:22] = 1
    p = np.where(y > 0, 0.9, 0.3).astype(np.float32)
    assert value(losses.dice_coef, y, p) == pytest.approx(8.2 / 1236.2, rel=1e-4)
    assert value(losses.mask_dice, y, p) == 1.0
    assert value(losses.mask_dice, np.zeros_like(y), np.zeros_like(p)) == 1.0


def test_perfect_prediction():
    y = np.zeros((1, 16, 16, 1), np.float32)
    y[0, 4:10, 5:12] = 1
    assert value(losses.dice_coef, y, y) == pytest.approx(1.0)
    assert value(losses.iou_coef, y, y) == pytest.approx(1.0)
    assert value(losses.jacard_similarity, y, y) == pytest.approx(1.0, abs=1e-6)
    assert value(losses.sensitivity, y, y) == pytest.approx(1.0)
    assert value(losses.specificity, y, y) == pytest.approx(1.0)
    assert value(losses.binary_accuracy, y, y) == 1.0


# ----------------------------------------------------------------------------- serialization


@pytest.mark.parametrize("name", sorted(METRICS))
def test_registered_serializable(name):
    fn = METRICS[name]
    assert keras.saving.get_registered_object(f"flexunet>{name}") is fn
    assert keras.saving.get_registered_name(fn) == f"flexunet>{name}"


def test_compiled_model_saved_as_keras_reloads_in_safe_mode(tmp_path):
    keras.utils.set_random_seed(1)
    model = create_unet((64, 64), base_filters=4, num_layers=3, dropout_rate=0.0)
    metric_names = sorted(set(METRICS) - {"bce_iou_loss"} - set(CELLS_REFERENCES))
    compile_unet(model, "bce_iou_loss", metric_names, learning_rate=1e-3, clipvalue=0.5)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    y = (rng.random((2, 64, 64, 1)) > 0.7).astype(np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(str(path))

    loaded = keras.saving.load_model(str(path), safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(loaded.loss, losses.BatchLoss) and loaded.loss.fn is losses.bce_iou_loss
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    after = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert set(after) == set(before)
    for key in before:
        assert after[key] == pytest.approx(before[key], rel=1e-5, abs=1e-6), key
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in loaded.layers)


def test_batch_loss_gives_every_image_the_batch_value():
    rng = np.random.default_rng(3)
    y = (rng.random((3, 8, 8, 1)) > 0.5).astype(np.float32)
    p = rng.uniform(0.01, 0.99, (3, 8, 8, 1)).astype(np.float32)
    per_image = keras.ops.convert_to_numpy(losses.BatchLoss("bce_iou_loss").call(y, p))
    assert per_image.shape == (3,)
    np.testing.assert_allclose(per_image, value(losses.bce_iou_loss, y, p), rtol=1e-6)
    assert float(losses.BatchLoss("bce_iou_loss")(y, p)) == pytest.approx(value(losses.bce_iou_loss, y, p), rel=1e-6)



# ----------------------------------------------------------------------------- several classes (softmax head)


def one_hot(labels: np.ndarray, classes: int = 3) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[labels]


def test_per_image_losses_are_exactly_those_whose_batch_value_is_the_mean_over_images():
    """Validation runs at a larger batch only for PER_IMAGE_LOSSES, so for them the loss of a batch must
    be the mean of the images' losses, and for the others (pooled over the batch) it must not be."""
    rng = np.random.default_rng(5)
    y = np.stack([(rng.random((16, 16, 1)) > q) for q in (0.2, 0.5, 0.8, 0.95)]).astype(np.float32)
    p = np.clip(0.6 * y + 0.4 * rng.random(y.shape), 0, 1).astype(np.float32)
    y3, p3 = one_hot(rng.integers(0, 3, (4, 16, 16))), rng.dirichlet((1, 1, 1), (4, 16, 16)).astype(np.float32)
    for name, fn in LOSSES.items():
        yy, pp = (y3, p3) if name in MULTI_CLASS_ONLY else (y, p)
        whole = value(fn, yy, pp)
        per_image = np.mean([value(fn, yy[i:i + 1], pp[i:i + 1]) for i in range(4)])
        if name in PER_IMAGE_LOSSES:
            assert whole == pytest.approx(per_image, rel=1e-5), name
        else:
            assert abs(whole - per_image) > 1e-3, name


@pytest.fixture(scope="module")
def three_classes():
    """Truth and softmax probabilities for 2 images of 4x4 (0 background, 1 cytoplasm, 2 nucleus)."""
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 3, (2, 4, 4))
    logits = rng.normal(0, 1, (2, 4, 4, 3)) + 2 * one_hot(labels)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return one_hot(labels), p.astype(np.float32)


def np_class_dice(y, p, k):
    return (2 * np.sum(y[..., k] * p[..., k]) + 1) / (np.sum(y[..., k]) + np.sum(p[..., k]) + 1)


def np_hard_dice(y, p, k):
    t, m = y.argmax(-1) == k, p.argmax(-1) == k
    total = t.sum() + m.sum()
    return 2 * np.sum(t & m) / total if total else 1.0


def test_multi_class_losses_and_metrics_against_numpy(three_classes):
    y, p = three_classes
    cce = -np.mean(np.sum(y * np.log(np.clip(p, 1e-7, 1)), axis=-1))
    dice = (np_class_dice(y, p, 1) + np_class_dice(y, p, 2)) / 2
    assert value(losses.categorical_crossentropy, y, p) == pytest.approx(cce, abs=1e-5)
    assert value(losses.dice_coef, y, p) == pytest.approx(dice, abs=1e-5)
    assert value(losses.dice_loss, y, p) == pytest.approx(1 - dice, abs=1e-5)
    assert value(losses.cce_dice_loss, y, p) == pytest.approx(cce + 1 - dice, abs=1e-5)
    assert value(losses.dice_nucleus, y, p) == pytest.approx(np_hard_dice(y, p, 2), abs=1e-6)
    assert value(losses.dice_cytoplasm, y, p) == pytest.approx(np_hard_dice(y, p, 1), abs=1e-6)
    assert value(losses.mask_dice, y, p) == pytest.approx((np_hard_dice(y, p, 1) + np_hard_dice(y, p, 2)) / 2,
                                                         abs=1e-6)


def test_per_class_dice_by_hand():
    """One 1x4 image: truth [bg, cyto, nuc, nuc], prediction [bg, nuc, nuc, cyto]: nucleus 2*1/(2+2) = 0.5,
    cytoplasm 0 of 1 + 1 = 0."""
    y = one_hot(np.array([[[0, 1, 2, 2]]]))
    p = one_hot(np.array([[[0, 2, 2, 1]]])) * 0.9 + 0.1 / 3
    assert value(losses.dice_nucleus, y, p) == pytest.approx(0.5)
    assert value(losses.dice_cytoplasm, y, p) == pytest.approx(0.0)
    assert value(losses.mask_dice, y, p) == pytest.approx(0.25)


def test_the_nucleus_metric_of_one_channel_is_the_thresholded_mask():
    y = np.array([1, 1, 0, 0], np.float32).reshape(1, 1, 4, 1)
    p = np.array([0.9, 0.2, 0.7, 0.1], np.float32).reshape(1, 1, 4, 1)
    assert value(losses.dice_nucleus, y, p) == pytest.approx(2 * 1 / (2 + 2))


def test_a_cells_head_model_saved_as_keras_reloads_in_safe_mode(tmp_path):
    keras.utils.set_random_seed(2)
    model = create_unet((32, 32), 3, 3, base_filters=4, num_layers=3, dropout_rate=0.0, head="cells")
    assert model.output_shape == (None, 32, 32, 4)
    compile_unet(model, "cells_loss", ["cells_dice_cell", "cells_dice_nucleus"], learning_rate=1e-3, head="cells")
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    y = (rng.random((2, 32, 32, 4)) > 0.7).astype(np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(str(tmp_path / "cells.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "cells.keras"), safe_mode=True)
    assert loaded.loss.fn is losses.cells_loss
    before, after = (m.evaluate(x, y, verbose=0, return_dict=True) for m in (model, loaded))
    assert "cells_mask_dice" in before and set(after) == set(before)
    for key in before:
        assert after[key] == pytest.approx(before[key], rel=1e-5, abs=1e-6), key
