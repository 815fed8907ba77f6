"""Pairing by stem, source-cell ids, and splits that keep a cell's copies on one side."""

import numpy as np
import pytest
from PIL import Image

from flexunet.data.pairs import grouped_split, last_files_split, pair_files, shared_cells, source_cell_id
from flexunet.errors import DataError


@pytest.mark.parametrize("name, cell", [
    ("rotated_120_149-150-001.jpg", "149-150-001"),
    ("rotated_90_149056410-149056444-004.jpg", "149056410-149056444-004"),
    ("mirrored_x.jpg", "x"),
    ("flipped_x.png", "x"),
    ("x.bmp", "x"),
    ("149056410-149056444-004", "149056410-149056444-004"),
    ("rotated_90_mirrored_x.jpg", "x"),
    ("mirrored_rotated_180_x.jpg", "x"),
    ("cell_rotated_90_x.jpg", "cell_rotated_90_x"),       # a prefix only counts at the start
    ("rotated_x.jpg", "rotated_x"),                       # no angle: not a copy prefix
    ("/some/folder/flipped_abc.JPG", "abc"),
])
def test_source_cell_id(name, cell):
    assert source_cell_id(name) == cell


def _touch_images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    pixel = np.zeros((2, 2, 3), np.uint8)
    for name in names:
        Image.fromarray(pixel).save(folder / name)


def test_pair_files_matches_stems_across_extensions(tmp_path):
    _touch_images(tmp_path / "images", ["a.jpg", "b.JPG", "c.bmp"])
    _touch_images(tmp_path / "masks", ["a.png", "b.png", "c.jpg"])
    (tmp_path / "masks" / "Thumbs.db").write_text("x")
    pairs = pair_files(tmp_path / "images", tmp_path / "masks", "IMG", "MSK")
    assert [(p.stem, p.image.name, p.mask.name) for p in pairs] == [
        ("a", "a.jpg", "a.png"), ("b", "b.JPG", "b.png"), ("c", "c.bmp", "c.jpg")]


def test_images_without_masks_are_listed_up_to_five(tmp_path):
    images = [f"img{i}.jpg" for i in range(8)]
    _touch_images(tmp_path / "images", images)
    _touch_images(tmp_path / "masks", ["img0.png"])
    with pytest.raises(DataError) as info:
        pair_files(tmp_path / "images", tmp_path / "masks", "IMG", "MSK")
    assert str(info.value) == (
        f"MSK: 7 image(s) in {tmp_path / 'images'} have no mask with the same name in "
        f"{tmp_path / 'masks'}: img1.jpg, img2.jpg, img3.jpg, img4.jpg, img5.jpg and 2 more")


def test_masks_without_images_are_listed(tmp_path):
    _touch_images(tmp_path / "images", ["a.jpg"])
    _touch_images(tmp_path / "masks", ["a.png", "z.png", "y.png"])
    with pytest.raises(DataError) as info:
        pair_files(tmp_path / "images", tmp_path / "masks", "IMG", "MSK")
    assert str(info.value) == (
        f"IMG: 2 mask(s) in {tmp_path / 'masks'} have no image with the same name in "
        f"{tmp_path / 'images'}: y.png, z.png")


@pytest.mark.parametrize("folder", ["images", "masks"])
def test_duplicate_stems_are_an_error(tmp_path, folder):
    _touch_images(tmp_path / "images", ["a.jpg", "b.jpg"])
    _touch_images(tmp_path / "masks", ["a.png", "b.png"])
    _touch_images(tmp_path / folder, ["a.bmp"])
    what = "IMG" if folder == "images" else "MSK"
    with pytest.raises(DataError) as info:
        pair_files(tmp_path / "images", tmp_path / "masks", "IMG", "MSK")
    message = str(info.value)
    assert message.startswith(f"{what}: two files share the stem 'a': ")
    assert "a.bmp" in message and ("a.jpg" in message or "a.png" in message)


def test_pair_files_missing_folder(tmp_path):
    _touch_images(tmp_path / "images", ["a.jpg"])
    with pytest.raises(DataError) as info:
        pair_files(tmp_path / "images", tmp_path / "nomasks", "IMG", "MSK")
    assert str(info.value) == f"MSK: folder {tmp_path / 'nomasks'} not found"


# ----------------------------------------------------------------------------- splits

PREFIXES = ["", "rotated_90_", "rotated_180_", "mirrored_", "flipped_"]


def names_for(cells: int, prefixes=PREFIXES) -> list[str]:
    return sorted(f"{p}cell{c:03d}.jpg" for c in range(cells) for p in prefixes)


@pytest.mark.parametrize("cells, fraction, seed", [
    (20, 0.2, 0), (20, 0.2, 137), (33, 0.1, 5), (10, 0.5, 1), (157, 0.2, 137),
])
def test_grouped_split_keeps_each_cell_on_one_side(cells, fraction, seed):
    names = names_for(cells)
    train, held = grouped_split(names, fraction, seed)
    assert sorted(train + held) == list(range(len(names)))
    assert not set(train) & set(held)
    assert shared_cells([names[i] for i in train], [names[i] for i in held]) == set()
    # whole cells of 5 copies are held out until at least the fraction is reached
    group = len(PREFIXES)
    assert fraction * len(names) <= len(held) < fraction * len(names) + group
    assert len(held) % group == 0
    assert train == sorted(train) and held == sorted(held)


def test_grouped_split_is_deterministic_by_seed():
    names = names_for(30)
    assert grouped_split(names, 0.2, 7) == grouped_split(names, 0.2, 7)
    splits = {tuple(grouped_split(names, 0.2, s)[1]) for s in range(5)}
    assert len(splits) > 1, "different seeds should hold out different cells"


def test_grouped_split_never_holds_out_everything():
    names = names_for(1)                  # a single source cell: nothing can be held out
    train, held = grouped_split(names, 0.2, 0)
    assert held == [] and train == list(range(len(names)))
    train, held = grouped_split(names_for(2), 0.9, 0)
    assert len(train) == len(PREFIXES) and len(held) == len(PREFIXES)


@pytest.mark.parametrize("count, fraction", [
    (10, 0.2), (10, 0.3), (7, 0.2), (2041, 0.2), (11, 0.1), (100, 0.25), (3, 0.5), (25, 0.33),
])
def test_seed_split_holds_out_the_last_fraction_like_keras(count, fraction):
    from keras.src.trainers.data_adapters.array_slicing import train_validation_split

    keras_train, keras_val = train_validation_split(np.arange(count), fraction)
    train, held = last_files_split(count, fraction)
    assert held == list(range(count - len(held), count))
    assert train == list(range(len(train)))
    assert (len(train), len(held)) == (len(keras_train), len(keras_val))
    assert held == keras_val.tolist()


@pytest.mark.parametrize("count, fraction, n_train", [(10, 0.2, 8), (2041, 0.2, 1632), (7, 0.2, 5)])
def test_seed_split_hand_counts(count, fraction, n_train):
    # floor(count * (1 - fraction)) images train, the rest validate (Keras validation_split).
    train, held = last_files_split(count, fraction)
    assert len(train) == n_train and len(held) == count - n_train


def test_real_data_copies_group_into_157_cells(shared_data):
    folder = shared_data / "Pap-Smear-master" / "severe_dysplastic" / "images"
    names = sorted(p.name for p in folder.iterdir())
    cells = {source_cell_id(n) for n in names}
    assert len(names) == 2041 and len(cells) == 157
    train, held = grouped_split(names, 0.2, 137)
    assert shared_cells([names[i] for i in train], [names[i] for i in held]) == set()
