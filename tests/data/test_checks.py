"""Data warnings: 0/1 masks, empty masks, masks sized unlike their images, mixed image sizes."""

import numpy as np
import pytest
from PIL import Image

from conftest import tiny_model_section, write_config
from flexunet.config import load_config
from flexunet.data.checks import describe_split, warn_about_masks
from flexunet.data.pairs import Pair, pair_files
from flexunet.errors import DataError
from flexunet.training.run import run_training


def write_pairs(root, sizes, mask_value=255, mask_sizes=None):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    for i, (w, h) in enumerate(sizes):
        image = np.full((h, w, 3), 200, np.uint8)
        image[h // 4: h // 2, w // 4: w // 2] = 60
        mw, mh = (mask_sizes or sizes)[i]
        mask = np.zeros((mh, mw), np.uint8)
        mask[mh // 4: mh // 2, mw // 4: mw // 2] = mask_value
        Image.fromarray(image).save(root / "images" / f"cell{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"cell{i}.png")
    return pair_files(root / "images", root / "masks", "images", "masks")


@pytest.mark.parametrize("mask_value, sizes, mask_sizes, expected", [
    (1, [(64, 64)] * 3, None, "masks hold 0/1 values, not 0/255; reading 1 as nucleus"),
    (255, [(64, 64)] * 3, [(32, 32)] * 3, "3 sampled mask(s) differ in size from their image (e.g. cell0.png)"),
    (255, [(64, 64), (80, 48), (64, 64)], None, "image sizes vary (64x64, 80x48); all are resized"),
])
def test_mask_warnings(tmp_path, capsys, mask_value, sizes, mask_sizes, expected):
    pairs = write_pairs(tmp_path, sizes, mask_value, mask_sizes)
    notes = warn_about_masks(pairs, "[train] mask_datapath in x.config")
    assert any(expected in n for n in notes), notes
    assert f"warning: [train] mask_datapath in x.config: {expected}" in capsys.readouterr().out


@pytest.mark.parametrize("mask_value, threshold, largest", [(0, 128, 0), (100, 128, 100), (60, 60, 60)])
def test_masks_without_a_pixel_above_the_threshold_stop_with_one_line(tmp_path, mask_value, threshold, largest):
    pairs = write_pairs(tmp_path, [(64, 64)] * 3, mask_value)
    with pytest.raises(DataError) as info:
        warn_about_masks(pairs, "[train] mask_datapath in x.config", threshold)
    assert str(info.value) == (f"[train] mask_datapath in x.config: no pixel above [mask] threshold = {threshold} in "
                               f"3 sampled masks of {tmp_path / 'masks'} (the largest value is {largest}), so there "
                               "is no nucleus to learn or score; lower the threshold or check the masks")


def test_clean_data_gives_no_warning(tmp_path):
    assert warn_about_masks(write_pairs(tmp_path, [(64, 64)] * 4), "masks") == []


def test_describe_split_counts_cells_on_both_sides(tmp_path):
    def pair(name):
        return Pair(name, tmp_path / f"{name}.jpg", tmp_path / f"{name}.png")

    train = [pair("a"), pair("rotated_90_a"), pair("b")]
    val = [pair("mirrored_a"), pair("c")]
    line = describe_split(train, val, "test")
    assert line == ("Training on 3 images (2 source cells); validating on 2 images (2 source cells) "
                    "from test; source cells on both sides: 1")


def test_training_on_mixed_sizes_and_01_masks_resizes_and_reads_them(tmp_path):
    pairs = write_pairs(tmp_path / "data", [(64, 64), (100, 80), (48, 72), (64, 64)] * 2, mask_value=1)
    assert len(pairs) == 8
    config = load_config(write_config(
        tmp_path, model=tiny_model_section(),
        train={"epochs": 1, "batch_size": 4, "image_datapath": f'"{tmp_path / "data" / "images"}"',
               "mask_datapath": f'"{tmp_path / "data" / "masks"}"', "validation": '"seed"',
               "validation_split": 0.25}))
    info = run_training(config, verbose=0)
    assert info.run.epochs_run == 1 and (tmp_path / "models" / "best_model.keras").is_file()
