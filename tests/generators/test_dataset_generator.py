"""Dataset generator: 13 copies per cell that match the seed's PIL steps, masks on the nucleus."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from conftest import missing_data, require_data
from flexunet.data.io import read_image
from flexunet.errors import ConfigError, OutputError
from flexunet.generators.dataset_generator import (
    ANGLES,
    COPY_PREFIXES,
    cell_copies,
    generate,
    paste_centred,
    pil_blur,
    seamless_paste,
    thirteen_copies,
)
from flexunet.generators.synthetic import draw_cell, save_raw_cell

REPO = Path(__file__).resolve().parents[2]
MINI_TEST = REPO / ".." / "shared" / "data" / "mini_test"
SEED_OUTPUT = REPO / ".." / "shared" / "data"


def raw_dataset(base: Path, per_class: dict[str, int], seed: int = 3) -> dict[str, list]:
    """Synthetic raw cells; returns {class: [(stem, image, labels)]} for hand-computed expectations."""
    made: dict[str, list] = {}
    for class_name, n in per_class.items():
        folder = base / class_name
        folder.mkdir(parents=True)
        for i in range(n):
            image, labels = draw_cell(np.random.default_rng([seed, i]))
            stem = f"{149000000 + i:09d}-{149000100 + i:09d}-{i + 1:03d}"
            save_raw_cell(folder, stem, image, labels)
            made.setdefault(class_name, []).append((stem, image, labels))
    return made


def test_pil_blur_is_exactly_pil():
    rng = np.random.default_rng(0)
    image = (rng.random((17, 23, 3)) * 255).astype(np.uint8)
    expected = np.asarray(Image.fromarray(image).filter(ImageFilter.BLUR))
    np.testing.assert_array_equal(pil_blur(image), expected)


@pytest.mark.parametrize("side, cropsize", [(64, 24), (65, 24), (40, 27)])
def test_thirteen_copies_equal_pil_rotate_mirror_flip_then_crop(side, cropsize):
    canvas = (np.random.default_rng(side).random((side, side, 3)) * 255).astype(np.uint8)
    pil = Image.fromarray(canvas)

    def crop(im):
        left = (side - cropsize) // 2
        return np.asarray(im.crop((left, left, left + cropsize, left + cropsize)))

    expected = [crop(pil)] + [crop(pil.rotate(a)) for a in ANGLES]
    expected += [crop(ImageOps.mirror(pil)), crop(ImageOps.flip(pil))]
    ours = thirteen_copies(canvas, cropsize, (0, 0, 0))
    assert len(ours) == len(COPY_PREFIXES) == 13
    for prefix, mine, theirs in zip(COPY_PREFIXES, ours, expected):
        np.testing.assert_array_equal(mine, theirs, err_msg=prefix)


def test_paste_centred_offsets_and_fill():
    canvas, x, y = paste_centred(np.zeros((3, 5, 3), np.uint8), 10, (9, 8, 7))
    assert (x, y) == (2, 3)
    assert canvas[y:y + 3, x:x + 5].max() == 0
    assert tuple(canvas[0, 0]) == (9, 8, 7) and tuple(canvas[9, 9]) == (9, 8, 7)


def test_seamless_clone_stays_aligned_with_the_mask():
    image = np.full((41, 57, 3), 180, np.uint8)
    image[10:20, 30:38] = 20
    plain, _, _ = paste_centred(image, 100, (180, 180, 180))
    cloned = seamless_paste(image, 100, (200, 190, 210))
    assert cloned.shape == plain.shape
    dark_plain = np.argwhere(plain[:, :, 0] < 100)
    dark_cloned = np.argwhere(cloned[:, :, 0] < cloned[:, :, 0].min() + 40)
    np.testing.assert_array_equal(dark_plain.min(0), dark_cloned.min(0))
    np.testing.assert_array_equal(dark_plain.max(0), dark_cloned.max(0))
    assert np.abs(cloned[:5, :5].astype(int) - (200, 190, 210)).max() <= 2


@pytest.mark.parametrize("shape", [(40, 30), (340, 200), (2, 5)])
def test_cells_of_any_size_give_cropsize_copies(shape):
    image = np.full(shape + (3,), 150, np.uint8)
    nucleus = np.zeros(shape, bool)
    nucleus[shape[0] // 2, shape[1] // 2] = True
    for seamless in (False, True):
        copies = cell_copies(image, nucleus, 312, 128, seamless)
        assert [c[0] for c in copies] == list(COPY_PREFIXES)
        assert all(c[1].shape == (128, 128, 3) and c[2].shape == (128, 128, 3) for c in copies)


def test_generate_writes_13_copies_with_masks_on_the_nucleus(tmp_path):
    made = raw_dataset(tmp_path / "raw", {"severe_dysplastic": 2, "normal_columnar": 1})
    (tmp_path / "raw" / "severe_dysplastic" / "999-999-001.BMP").write_bytes(
        (tmp_path / "raw" / "normal_columnar" / f"{made['normal_columnar'][0][0]}.BMP").read_bytes())
    result = generate(tmp_path / "raw", tmp_path / "out", 312, 128, False,
                      {"normal_columnar": (255, 255, 0)}, progress=False)

    assert result["classes"] == {"normal_columnar": {"cells": 1, "files": 13},
                                 "severe_dysplastic": {"cells": 2, "files": 26}}
    assert result["cells"] == 3 and result["skipped"] == 1
    assert result["skipped_files"][0].endswith("999-999-001.BMP")
    assert result["seconds_per_cell"] > 0
    for class_name, cells in made.items():
        for sub in ("images", "masks"):
            names = sorted(p.name for p in (tmp_path / "out" / class_name / sub).iterdir())
            assert names == sorted(f"{p}{stem}.jpg" for stem, _, _ in cells for p in COPY_PREFIXES)
        for stem, image, labels in cells:
            h, w = labels.shape
            side = max(312, w, h)
            expected = np.zeros((side, side), bool)
            x, y = (side - w) // 2, (side - h) // 2
            expected[y:y + h, x:x + w] = labels == 2
            start = (side - 128) // 2
            expected = expected[start:start + 128, start:start + 128]
            mask = read_image(tmp_path / "out" / class_name / "masks" / f"{stem}.jpg")
            assert mask.shape == (128, 128, 3)
            found = mask.max(axis=2) > 127
            iou = (found & expected).sum() / max((found | expected).sum(), 1)
            assert iou > 0.85, (stem, iou)
            assert mask[_far_from(expected)].max() < 24
            if class_name == "normal_columnar":
                assert mask[found][:, 2].mean() < 40 and mask[found][:, 0].mean() > 200
            rotated = read_image(tmp_path / "out" / class_name / "images" / f"rotated_30_{stem}.jpg")
            assert rotated.shape == (128, 128, 3)


def _far_from(region: np.ndarray, distance: int = 4) -> np.ndarray:
    """Pixels more than `distance` pixels from `region` (the mask blur spreads 2 pixels)."""
    kernel = np.ones((2 * distance + 1, 2 * distance + 1), np.uint8)
    return cv2.dilate(region.astype(np.uint8), kernel) == 0


def test_output_folder_of_someone_else_is_refused_but_own_output_is_replaced(tmp_path):
    raw_dataset(tmp_path / "raw", {"severe_dysplastic": 1})
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not empty and was not made by this toolkit"):
        generate(tmp_path / "raw", foreign, 100, 64, progress=False)
    assert (foreign / "notes.txt").read_text() == "keep me"
    generate(tmp_path / "raw", tmp_path / "out", 100, 64, progress=False)
    again = generate(tmp_path / "raw", tmp_path / "out", 100, 64, progress=False)
    assert again["cells"] == 1
    assert read_image(next((tmp_path / "out" / "severe_dysplastic" / "images").iterdir())).shape == (64, 64, 3)


@pytest.mark.parametrize("resize, cropsize, phrase", [
    (128, 128, "cropsize: expected an int less than resize (128), got 128"),
    (100, 0, "cropsize: expected a positive int, got 0"),
])
def test_bad_sizes_raise_config_error(tmp_path, resize, cropsize, phrase):
    with pytest.raises(ConfigError) as info:
        generate(tmp_path / "raw", tmp_path / "out", resize, cropsize, progress=False)
    assert str(info.value) == phrase
    assert not (tmp_path / "out").exists()


def test_matches_the_seeds_published_images(tmp_path):
    # gated on exactly what it reads: the raw mini_test cells and the seed's two published image folders
    plain_dir = SEED_OUTPUT / "Pap-Smear-master" / "severe_dysplastic" / "images"
    seamless_dir = SEED_OUTPUT / "Seamless-Pap-Smear-master" / "severe_dysplastic" / "images"
    require_data("shared data", MINI_TEST, plain_dir, seamless_dir)
    files = sorted(MINI_TEST.glob("*.BMP"))[:2]
    if not files:
        missing_data(f"shared data not available: no .BMP cells in {MINI_TEST}")
    for path in files:
        image = read_image(path)
        nucleus = np.zeros(image.shape[:2], bool)
        for seamless, folder in ((False, plain_dir), (True, seamless_dir)):
            for prefix, ours, _ in cell_copies(image, nucleus, 312, 128, seamless)[::4]:
                theirs = read_image(folder / f"{prefix}{path.stem}.jpg").astype(int)
                assert np.abs(ours.astype(int) - theirs).mean() < 4, (path.name, prefix, seamless)
