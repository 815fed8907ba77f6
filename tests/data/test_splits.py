"""Cross-validation folds for ensembles: grouped_folds and [train] ensemble_folds splits."""

import pytest

from conftest import make_tiny_dataset, write_config
from flexunet.config import load_config
from flexunet.data.pairs import grouped_folds, grouped_split, source_cell_id
from flexunet.errors import ConfigError
from flexunet.training.setup import training_splits

PREFIXES = ("", "mirrored_", "flipped_", "rotated_90_")


def names_for(cells: int, copies=PREFIXES) -> list[str]:
    return sorted(f"{p}cell{c:02d}.BMP.jpg" for c in range(cells) for p in copies)


def cells_of(names: list[str], indices: list[int]) -> set[str]:
    return {source_cell_id(names[i]) for i in indices}


@pytest.mark.parametrize("cells, fraction, count, expected_sizes", [
    (10, 0.2, 3, [8, 8, 8]),
    (10, 0.2, 5, [8, 8, 8, 8, 8]),
    (10, 0.2, 9, [8, 8, 8, 8, 8]),
    (10, 0.25, 4, [12, 12, 12, 4]),
    (5, 0.5, 2, [12, 8]),
])
def test_grouped_folds_hold_whole_cells_and_never_overlap(cells, fraction, count, expected_sizes):
    names = names_for(cells)
    folds = grouped_folds(names, fraction, seed=3, count=count)
    assert [len(f) for f in folds] == expected_sizes
    seen: set[str] = set()
    for fold in folds:
        held = cells_of(names, fold)
        assert len(fold) == len(held) * len(PREFIXES)
        assert not held & seen
        seen |= held


@pytest.mark.parametrize("seed", [0, 1, 137])
def test_the_first_fold_is_the_grouped_split(seed):
    names = names_for(12)
    _, held = grouped_split(names, 0.2, seed)
    assert grouped_folds(names, 0.2, seed, 3)[0] == held


def folds_config(tmp_path, data, **train):
    section = {"ensemble": 3, "ensemble_folds": True, "validation_split": 0.25, "seed": 5,
               "image_datapath": f'"{data.images}"', "mask_datapath": f'"{data.masks}"', **train}
    return load_config(write_config(tmp_path, train=section))


def test_grouped_members_validate_on_disjoint_cells_and_train_on_the_rest(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", cells=tuple(f"c{k}" for k in range(8)))
    config = folds_config(tmp_path, data)
    splits = training_splits(config)
    assert len(splits) == 3
    all_cells = set(data.cells)
    validated: set[str] = set()
    for train_src, val_src, _ in splits:
        train_cells = {source_cell_id(p.image.name) for p in train_src.pairs}
        val_cells = {source_cell_id(p.image.name) for p in val_src.pairs}
        assert len(val_cells) == 2 and not train_cells & val_cells and train_cells | val_cells == all_cells
        assert not val_cells & validated
        validated |= val_cells
    (plain_train, plain_val, _), = training_splits(folds_config(tmp_path, data, ensemble=1))
    assert [p.image for p in splits[0][1].pairs] == [p.image for p in plain_val.pairs]
    assert [p.image for p in splits[0][0].pairs] == [p.image for p in plain_train.pairs]


def test_eval_members_rotate_the_eval_folders_with_groups_of_train_cells(tmp_path):
    train = make_tiny_dataset(tmp_path / "train", cells=tuple(f"t{k}" for k in range(6)))
    valid = make_tiny_dataset(tmp_path / "valid", cells=("v0", "v1"))
    config = load_config(write_config(
        tmp_path, train={"ensemble": 3, "ensemble_folds": True, "validation": '"eval"',
                         "image_datapath": f'"{train.images}"', "mask_datapath": f'"{train.masks}"'},
        eval={"image_datapath": f'"{valid.images}"', "mask_datapath": f'"{valid.masks}"'}))
    splits = training_splits(config)
    val_cells = [{source_cell_id(p.image.name) for p in v.pairs} for _, v, _ in splits]
    assert val_cells[0] == {"v0", "v1"}
    assert all(len(c) == 2 and c <= set(train.cells) for c in val_cells[1:])
    assert not val_cells[1] & val_cells[2]
    for (train_src, _, _), held in zip(splits, val_cells):
        train_cells = {source_cell_id(p.image.name) for p in train_src.pairs}
        assert train_cells == (set(train.cells) | {"v0", "v1"}) - held
    assert splits[0][2].startswith("member 1: the [eval] folders")


def test_without_folds_every_member_shares_one_split(tmp_path):
    data = make_tiny_dataset(tmp_path / "data")
    splits = training_splits(folds_config(tmp_path, data, ensemble_folds=False))
    assert len(splits) == 3 and all(s is splits[0] for s in splits)


def test_folds_need_whole_cells(tmp_path):
    data = make_tiny_dataset(tmp_path / "data")
    with pytest.raises(ConfigError, match=r'\[train\] ensemble_folds in .*: expected validation = "grouped" or '
                                          r'"eval" \(folds need whole source cells\), got validation = "last_files"'):
        training_splits(folds_config(tmp_path, data, validation='"seed"'))


def test_more_members_than_folds_is_an_error(tmp_path):
    data = make_tiny_dataset(tmp_path / "data")
    with pytest.raises(ConfigError, match=r"\[train\] ensemble in .*: expected at most 2 members with "
                                          r"ensemble_folds = True \(the source cells make 2 validation groups "
                                          r"of 0\.5 of the files\), got 3"):
        training_splits(folds_config(tmp_path, data, validation_split=0.5))
