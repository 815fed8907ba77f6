"""Masks painted in each Herlev class colour (the generator's [maskcolor]) read as the nucleus, for training,
evaluation and the dataset inspector alike; a grey or 0/1 mask keeps its meaning."""

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from flexunet.data.dataset import MaskOptions
from flexunet.data.inspect import inspect_split
from flexunet.data.io import read_mask
from flexunet.data.sources import Folders, SampleSpec, folder_source
from flexunet.generators.config import load_generator_config
from flexunet.generators.dataset_generator import paint_mask, pil_blur

SEED_COLOURS = load_generator_config(REPO / "projects" / "Pap-Smear" / "generator" / "image_mask_generator.config"
                                     ).mask_colors
NUCLEUS = np.zeros((64, 64), bool)
NUCLEUS[20:40, 16:44] = True


def write_pair(root, name: str, mask_rgb: np.ndarray, suffix: str = ".jpg"):
    for kind in ("images", "masks"):
        (root / kind).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((64, 64, 3), 180, np.uint8)).save(root / "images" / f"{name}.jpg")
    Image.fromarray(mask_rgb).save(root / "masks" / f"{name}{suffix}", quality=95)


def test_the_seed_config_names_all_seven_colours():
    assert len(SEED_COLOURS) == 7 and len(set(SEED_COLOURS.values())) == 7


@pytest.mark.parametrize("class_name, colour", sorted(SEED_COLOURS.items()))
def test_a_class_coloured_mask_is_the_nucleus_everywhere(tmp_path, class_name, colour):
    """The generator's mask (blurred, painted, jpg): the nucleus reads as > 128 in training targets,
    evaluation truths and the inspector's coverage (luminance would read (0, 0, 255) as 29)."""
    write_pair(tmp_path, "cell", pil_blur(paint_mask(NUCLEUS, colour)))
    read = read_mask(tmp_path / "masks" / "cell.jpg") > 128
    assert (read == NUCLEUS).mean() > 0.97 and read[NUCLEUS].mean() > 0.95
    folders = Folders(str(tmp_path / "images"), str(tmp_path / "masks"), "images", "masks")
    # binarized, soft, and the seed's blurred load (which grows a 20x28 nucleus by about a pixel: 22x30)
    for opts, low, high in ((MaskOptions(True, 128, False), 0.95 * 560, 1.05 * 560),
                            (MaskOptions(False, 128, False), 0.95 * 560, 1.05 * 560),
                            (MaskOptions(True, 128, True), 560, 22 * 30)):
        source = folder_source(folders, SampleSpec((64, 64), 3, opts)).cache(progress=False)
        target = source.masks[0] > 127
        assert low <= target.sum() <= high and target[NUCLEUS].mean() > 0.95, (class_name, opts, target.sum())
    coverage = inspect_split(tmp_path / "images", tmp_path / "masks")["coverage"][0]
    assert coverage == pytest.approx(NUCLEUS.mean(), rel=0.06)


@pytest.mark.parametrize("mode, values, nucleus", [
    ("L", (0, 255), 255),         # grey 0/255
    ("L", (0, 1), 1),             # 0/1 labels
    ("P", (0, 255), 255),         # palette with a grey palette
    ("RGB", (0, 200), 200),       # grey stored as RGB
])
def test_grey_and_01_masks_keep_their_meaning(tmp_path, mode, values, nucleus):
    mask = np.where(NUCLEUS, values[1], values[0]).astype(np.uint8)
    image = Image.fromarray(mask).convert(mode) if mode != "P" else Image.fromarray(mask).convert("P")
    write_pair(tmp_path, "cell", np.asarray(image.convert("RGB")) if mode == "RGB" else mask, ".png")
    if mode == "P":
        image.save(tmp_path / "masks" / "cell.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "masks" / "cell.png") == nucleus, NUCLEUS)
