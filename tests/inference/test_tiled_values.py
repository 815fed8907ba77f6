"""Issue 18: tiled and whole-image inference VALUES, against hand-computed and independently recomputed numbers.

Known predictors (the channel mean, the pixel's position inside its tile) pin down stitching and blending
exactly; a trained tiny model checks what run_inference and run_tiled_inference write, recomputed here from
model.predict with this file's own resizing, tiling and blend weights.
"""

import json

import cv2
import keras
import numpy as np
import pytest
from PIL import Image

from conftest import make_tiny_dataset, tiny_model_section, write_config
from flexunet.config import load_config
from flexunet.inference.run import run_inference
from flexunet.inference.tiled import run_tiled_inference
from flexunet.inference.tiling import predict_tiled, predict_tiled_many
from flexunet.training.run import run_training

TILE = 64


def channel_mean(tiles: np.ndarray) -> np.ndarray:
    """A per-pixel 'model': probability = channel mean / 255, (N, t, t, 1)."""
    return (tiles.mean(axis=-1, keepdims=True) / 255.0).astype(np.float32)


def local_position(tiles: np.ndarray) -> np.ndarray:
    """A 'model' whose tiles disagree wherever they overlap: local column / 64 + local row / 128."""
    n, h, w = tiles.shape[:3]
    rows, cols = np.mgrid[0:h, 0:w]
    return np.broadcast_to((cols / 64 + rows / 128).astype(np.float32), (n, h, w))[..., None].copy()


def random_image(seed: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ----------------------------------------------------------------------------- known predictors


@pytest.mark.parametrize("overlap", [0, 16, 40])
def test_where_tiles_agree_the_tiled_result_is_the_whole_image_result(overlap):
    """A per-pixel predictor gives every tile the same value at a shared pixel, so any blend of them is
    that value: the stitched probabilities equal the whole image's, also for images smaller than a tile."""
    sizes = [(100, 100), (150, 70), (64, 64), (40, 50), (20, 130)]
    images = [random_image(k, h, w) for k, (h, w) in enumerate(sizes)]
    results = list(predict_tiled_many(iter(images), channel_mean, TILE, overlap, batch_size=4))
    assert [r.shape for r in results] == sizes
    for image, probs in zip(images, results):
        np.testing.assert_allclose(probs, image.astype(np.float64).mean(axis=-1) / 255.0, rtol=0, atol=1e-6)


def test_overlaps_are_blended_with_the_window_weights_by_hand():
    """100 x 100 with tiles of 64 overlapping by 16: starts 0 and 36 on both axes (stride 48, the last tile
    aligned with the end). The window is the outer product of a ramp r(i) = min(1, (i+1)/17, (64-i)/17),
    so a pixel's value is sum(w * v) / sum(w) over the tiles covering it; with v = x/64 + y/128 (local
    coordinates) it separates into a column part and a row part."""
    probs = predict_tiled(np.zeros((100, 100, 3), np.uint8), local_position, TILE, 16, batch_size=3)
    # (y, x) = (10, 10): only tile (0, 0) covers it
    assert probs[10, 10] == pytest.approx(10 / 64 + 10 / 128, abs=1e-6)
    # (70, 80): only tile (36, 36), at local (34, 44)
    assert probs[70, 80] == pytest.approx(44 / 64 + 34 / 128, abs=1e-6)
    # (40, 50): column 50 is local 50 in tile x=0 (weight (64-50)/17 = 14/17) and local 14 in tile x=36
    # (weight 15/17); row 40 is local 40 in tile y=0 (weight 1) and local 4 in tile y=36 (weight 5/17)
    columns = (14 * 50 + 15 * 14) / ((14 + 15) * 64)
    rows = (17 * 40 + 5 * 4) / ((17 + 5) * 128)
    assert probs[40, 50] == pytest.approx(columns + rows, abs=1e-6)
    # (5, 36): column 36 is local 36 in tile x=0 (weight 1) and local 0 in tile x=36 (weight 1/17)
    assert probs[5, 36] == pytest.approx(36 * 17 / (18 * 64) + 5 / 128, abs=1e-6)
    # an unweighted mean would give (50 + 14) / 2 / 64 for the column part at (40, 50): not this
    assert abs(probs[40, 50] - ((50 + 14) / 128 + (40 + 4) / 256)) > 1e-3


def test_images_batched_together_equal_each_predicted_alone():
    """Tiles of consecutive images of different sizes share predict calls; each image's result is the one
    it gets alone, bit for bit, with a content- and position-dependent predictor."""
    def nonlinear(tiles: np.ndarray) -> np.ndarray:
        grey = tiles.mean(axis=-1) / 255.0
        return (grey ** 2 * (0.5 + local_position(tiles)[..., 0] / 3)).astype(np.float32)

    sizes = [(100, 130), (40, 50), (64, 64), (150, 70), (30, 200)]
    images = [random_image(10 + k, h, w) for k, (h, w) in enumerate(sizes)]
    calls = []

    def recorded(tiles):
        calls.append(len(tiles))
        return nonlinear(tiles)

    together = list(predict_tiled_many(images, recorded, TILE, 20, batch_size=5))
    alone = [predict_tiled(image, nonlinear, TILE, 20, batch_size=1) for image in images]
    # tiles per image (stride 44): 2x3, 1, 1, 3x2, 1x5 = 19, in 4 calls of at most 5: calls mix images
    assert calls == [5, 5, 5, 4]
    assert [r.shape for r in together] == sizes
    for a, b in zip(together, alone):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- end to end on a trained model


def hand_starts(length: int) -> list[int]:
    """Tile starts for TILE = 64, overlap 16 of the lengths used below, worked out by hand."""
    return {40: [0], 50: [0], 64: [0], 70: [0, 6], 100: [0, 36], 130: [0, 48, 66], 150: [0, 48, 86]}[length]


def hand_window() -> np.ndarray:
    i = np.arange(TILE)
    ramp = np.minimum(1.0, np.minimum(i + 1, TILE - i) / 17.0)
    return np.outer(ramp, ramp)


def my_tiled_probs(model: keras.Model, image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    padded = np.pad(image, ((0, max(0, TILE - h)), (0, max(0, TILE - w)), (0, 0)), mode="edge")
    boxes = [(y, x) for y in hand_starts(h) for x in hand_starts(w)]
    tiles = np.stack([padded[y:y + TILE, x:x + TILE] for y, x in boxes]).astype(np.float32)
    probs = model.predict(tiles, batch_size=len(tiles), verbose=0)[..., 0].astype(np.float64)
    total, weight = np.zeros(padded.shape[:2]), np.zeros(padded.shape[:2])
    for (y, x), p in zip(boxes, probs):
        total[y:y + TILE, x:x + TILE] += hand_window() * p
        weight[y:y + TILE, x:x + TILE] += hand_window()
    return (total / weight)[:h, :w]


def scene(seed: int, h: int, w: int) -> np.ndarray:
    """A light noisy field with a few dark discs (nuclei to the tiny model)."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal((200, 170, 190), 5, (h, w, 3)), 0, 255).astype(np.uint8)
    for _ in range(3):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(image, centre, int(rng.integers(6, 14)), (70, 40, 110), -1)
    return image


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiled_values")
    data = make_tiny_dataset(root / "data")
    sizes = {"whole": [(100, 80), (64, 64), (50, 120)], "tiled": [(150, 100), (70, 130), (40, 50)]}
    for kind, shapes in sizes.items():
        (root / kind).mkdir()
        for k, (h, w) in enumerate(shapes):
            Image.fromarray(scene(100 * len(kind) + k, h, w)).save(root / kind / f"{kind}{k}.png")
    config = load_config(write_config(
        root, model=tiny_model_section(base_filters=8, learning_rate=1e-2),
        train={"epochs": 3, "batch_size": 4, "patience": 0, "image_datapath": f'"{data.images}"',
               "mask_datapath": f'"{data.masks}"'},
        infer={"images_dir": f'"{root / "whole"}"', "output_dir": '"./infer_out"', "binarize": False},
        tiledinfer={"images_dir": f'"{root / "tiled"}"', "output_dir": '"./tiled_out"', "binarize": True,
                    "background": 7, "overlapping": 16},
        postprocess={"tta": False, "keep_largest": False, "fill_holes": False}))
    run_training(config, verbose=0)
    model = keras.saving.load_model(root / "models" / "best_model.keras", safe_mode=True)
    return root, config, model


def test_infer_without_binarize_writes_the_resized_back_probabilities_times_255(trained):
    root, config, model = trained
    written = run_inference(config)
    assert [p.name for p in written] == ["whole0.png", "whole1.png", "whole2.png"]
    for path in sorted((root / "whole").glob("*.png")):
        image = np.asarray(Image.open(path).convert("RGB"))
        h, w = image.shape[:2]
        x = cv2.resize(image, (64, 64), interpolation=cv2.INTER_LINEAR) if (h, w) != (64, 64) else image
        p = model.predict(x[None].astype(np.float32), verbose=0)[0, ..., 0]
        p = cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR) if (h, w) != (64, 64) else p
        scaled = np.clip(p.astype(np.float64) * 255.0, 0, 255)
        expected = np.round(scaled)
        got = np.asarray(Image.open(root / "infer_out" / path.name)).astype(np.float64)
        assert got.shape == (h, w)
        # a value within 1e-3 of a .5 may round either way after float32 sums; everything else is exact
        halfway = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-3
        assert np.array_equal(got[~halfway], expected[~halfway]), path.name
        assert np.abs(got - expected).max() <= 1
        assert len(np.unique(got)) > 10, "probabilities, not a 0/255 mask"


def test_tiled_infer_writes_255_on_the_mask_and_the_background_value_elsewhere(trained):
    root, config, model = trained
    threshold = json.loads((root / "models" / "model_info.json").read_text())["threshold"]
    run_tiled_inference(config)
    foreground = background = 0
    for path in sorted((root / "tiled").glob("*.png")):
        image = np.asarray(Image.open(path).convert("RGB"))
        probs = my_tiled_probs(model, image)
        expected = np.where(probs > threshold, 255, 7)
        got = np.asarray(Image.open(root / "tiled_out" / path.name))
        assert got.shape == image.shape[:2] and set(np.unique(got)) <= {7, 255}
        near = np.abs(probs - threshold) < 1e-5          # float32 blending in the toolkit, float64 here
        assert near.mean() < 1e-3
        assert np.array_equal(got[~near], expected[~near]), path.name
        foreground += int((expected == 255).sum())
        background += int((expected == 7).sum())
    assert foreground > 100 and background > 100, "a mask with both nucleus and background"
