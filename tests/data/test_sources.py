"""[mask] options: training targets follow the config; evaluation always scores mask > threshold."""

import cv2
import numpy as np
import pytest

from flexunet.config import load_config
from flexunet.data.dataset import MaskOptions, SegmentationBatches
from flexunet.data.sources import Folders, folder_source, mask_options, sample_spec


@pytest.mark.parametrize("mask, training, expected", [
    ({}, True, MaskOptions(True, 128, False)),
    ({}, False, MaskOptions(True, 128, False)),
    ({"binarize": False}, True, MaskOptions(False, 128, False)),
    ({"binarize": False}, False, MaskOptions(True, 128, False)),
    ({"blur": True, "threshold": 60}, True, MaskOptions(True, 60, True)),
    ({"blur": True, "threshold": 60}, False, MaskOptions(True, 60, False)),
    ({"binarize": False, "threshold": 200}, False, MaskOptions(True, 200, False)),
])
def test_mask_options(tmp_path, write_config, mask, training, expected):
    config = load_config(write_config(tmp_path, mask=mask))
    assert mask_options(config.mask, training) == expected


def test_soft_targets_train_on_grey_levels_and_evaluate_on_the_annotation(tmp_path, write_config):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    mask = np.repeat(np.array([[0, 100, 128, 129, 200] + [255] * 11], np.uint8), 16, axis=0)
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((16, 16, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), mask)
    config = load_config(write_config(
        tmp_path, model={"image_width": 16, "image_height": 16},
        train={"image_datapath": f'"{tmp_path / "images"}"', "mask_datapath": f'"{tmp_path / "masks"}"'},
        mask={"binarize": False}))
    folders = Folders(*config.folders("train", "for the test"))
    _, y = next(iter(SegmentationBatches(folder_source(folders, sample_spec(config.model, config.mask)).cache(
        progress=False), 1)))
    np.testing.assert_allclose(y[0, 0, :, 0], mask[0] / 255.0, atol=1e-6)
    evaluated = folder_source(folders, sample_spec(config.model, config.mask, training=False)).cache(progress=False)
    np.testing.assert_array_equal(evaluated.masks[0][0], [0, 0, 0] + [255] * 13)
