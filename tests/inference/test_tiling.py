"""Tiled prediction: tile offsets, blend weights, and exact reconstruction with an identity predictor."""

import numpy as np
import pytest

from flexunet.inference.tiling import blend_window, predict_tiled, ramp, tile_starts


@pytest.mark.parametrize("length, tile, overlap, expected", [
    (50, 64, 0, [0]),                       # shorter than a tile: one (padded) tile
    (64, 64, 0, [0]),
    (64, 64, 16, [0]),
    (128, 64, 0, [0, 64]),                  # exact multiples
    (192, 64, 0, [0, 64, 128]),
    (100, 64, 0, [0, 36]),                  # last tile aligned with the end
    (130, 64, 0, [0, 64, 66]),
    (112, 64, 16, [0, 48]),                 # stride 48, exact fit
    (128, 64, 16, [0, 48, 64]),
    (10, 4, 2, [0, 2, 4, 6]),
    (11, 4, 2, [0, 2, 4, 6, 7]),
    (65, 64, 63, [0, 1]),
])
def test_tile_starts(length, tile, overlap, expected):
    starts = tile_starts(length, tile, overlap)
    assert starts == expected
    # every pixel covered, every tile inside (or the single padded tile)
    covered = np.zeros(max(length, tile), bool)
    for s in starts:
        covered[s:s + tile] = True
    assert covered[:length].all()
    assert all(s + tile <= max(length, tile) for s in starts)


@pytest.mark.parametrize("tile, overlap", [(64, 64), (64, 65), (64, -1), (0, 0), (-4, 0)])
def test_tile_starts_rejects_bad_overlap(tile, overlap):
    with pytest.raises(ValueError) as info:
        tile_starts(100, tile, overlap)
    assert str(info.value) == f"expected 0 <= overlap < tile, got overlap {overlap} and tile {tile}"


@pytest.mark.parametrize("tile, overlap, expected", [
    (4, 0, [1, 1, 1, 1]),
    (6, 2, [1 / 3, 2 / 3, 1, 1, 2 / 3, 1 / 3]),
    (5, 1, [0.5, 1, 1, 1, 0.5]),
    (3, 2, [1 / 3, 2 / 3, 1 / 3]),         # rising and falling edges meet: the smaller wins
])
def test_ramp(tile, overlap, expected):
    np.testing.assert_allclose(ramp(tile, overlap), expected, rtol=1e-6)
    assert ramp(tile, overlap).dtype == np.float32


def test_blend_window_is_the_outer_product_of_ramps():
    w = blend_window(5, 1)
    r = np.array([0.5, 1, 1, 1, 0.5])
    np.testing.assert_allclose(w, np.outer(r, r))
    assert w[0, 0] == pytest.approx(0.25) and w[2, 2] == 1.0 and w.shape == (5, 5)


def grey_predict(tiles: np.ndarray) -> np.ndarray:
    """An 'identity' model: probability = the tile's channel mean / 255, shaped (N, t, t, 1)."""
    assert tiles.dtype == np.float32 and tiles.ndim == 4
    return (tiles.mean(axis=-1, keepdims=True) / 255.0).astype(np.float32)


@pytest.mark.parametrize("h, w, tile, overlap", [
    (64, 64, 64, 0),
    (128, 128, 64, 0),
    (128, 128, 64, 16),
    (100, 80, 32, 0),
    (100, 80, 32, 8),
    (130, 200, 64, 20),
    (40, 30, 64, 0),                        # smaller than a tile
    (40, 30, 64, 10),
    (20, 150, 64, 8),                       # short in one direction, long in the other
    (33, 17, 8, 7),
])
def test_identity_predictor_reconstructs_the_image(h, w, tile, overlap):
    image = np.random.default_rng(h * 1000 + w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    probs = predict_tiled(image, grey_predict, tile, overlap, batch_size=3)
    assert probs.shape == (h, w)
    np.testing.assert_allclose(probs, image.mean(axis=-1) / 255.0, atol=1e-5)


def test_grayscale_2d_image_and_3d_predictions():
    image = np.random.default_rng(0).integers(0, 256, (50, 70), dtype=np.uint8)
    seen = []

    def predict(tiles):
        seen.append(tiles.shape)
        return tiles[..., 0] / 255.0                          # (N, t, t) without a channel axis

    probs = predict_tiled(image, predict, 32, 4, batch_size=16)
    np.testing.assert_allclose(probs, image / 255.0, atol=1e-5)
    assert all(s[1:] == (32, 32, 1) for s in seen)


def test_batch_size_does_not_change_the_result():
    image = np.random.default_rng(2).integers(0, 256, (90, 70, 3), dtype=np.uint8)

    def nonlinear(tiles):
        t = tiles.mean(axis=-1) / 255.0
        return t ** 2

    one = predict_tiled(image, nonlinear, 32, 8, batch_size=1)
    many = predict_tiled(image, nonlinear, 32, 8, batch_size=64)
    np.testing.assert_allclose(one, many, atol=1e-6)


def test_overlap_blends_disagreeing_tiles():
    """Tiles that predict their own start offset: the overlap cross-fades between neighbours."""
    image = np.zeros((8, 14, 1), np.uint8)
    tile, overlap = 8, 2
    assert tile_starts(14, tile, overlap) == [0, 6]
    calls = []

    def predict(tiles):
        out = np.zeros(tiles.shape[:3], np.float32)
        for i in range(len(tiles)):
            out[i] = len(calls)           # 0 for the first tile, 1 for the second
            calls.append(i)
        return out

    probs = predict_tiled(image, predict, tile, overlap, batch_size=1)
    # columns 6 and 7 are shared; tile 0 weights there are ramp[6:8] = [2/3, 1/3],
    # tile 1 weights are ramp[0:2] = [1/3, 2/3]
    np.testing.assert_allclose(probs[0, :6], 0.0)
    np.testing.assert_allclose(probs[0, 6:8], [1 / 3, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(probs[0, 8:], 1.0)
