"""split_master: grouped by source cell, the seed's random mode, ratios, seeds, safe output folders."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flexunet.data.pairs import source_cell_id
from flexunet.errors import ConfigError, DataError, OutputError
from flexunet.generators.dataset_generator import COPY_PREFIXES
from flexunet.generators.split import (
    SPLITS,
    check_ratios,
    check_split,
    grouped_assignment,
    random_assignment,
    split_master,
)

CELLS = 20


@pytest.fixture(scope="module")
def master(tmp_path_factory) -> Path:
    """CELLS source cells x 13 copies of tiny jpg images and png masks."""
    root = tmp_path_factory.mktemp("master") / "severe_dysplastic"
    tiny = np.zeros((4, 4, 3), np.uint8)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for cell in range(CELLS):
        for prefix in COPY_PREFIXES:
            name = f"{prefix}{149056000 + cell}-{149056100 + cell}-001"
            Image.fromarray(tiny).save(root / "images" / f"{name}.jpg")
            Image.fromarray(tiny[:, :, 0]).save(root / "masks" / f"{name}.png")
    return root


def split_names(folder: Path) -> dict[str, list[str]]:
    return {s: sorted(p.name for p in (folder / s / "images").iterdir()) for s in SPLITS}


def test_grouped_split_shares_no_cell_and_keeps_ratios_within_one_cell(master, tmp_path, capsys):
    result = split_master(master, tmp_path / "out", seed=5)
    total = CELLS * 13
    for split, ratio in zip(SPLITS, (0.80, 0.15, 0.05)):
        assert abs(result[split]["images"] - ratio * total) <= 13, split
        assert result[split]["images"] == 13 * result[split]["cells"]
    assert sum(result[s]["images"] for s in SPLITS) == total
    printed = capsys.readouterr().out
    assert "train:" in printed and "source cells" in printed
    report = check_split(tmp_path / "out")
    assert report["shared_cells"] == 0
    assert report["shared_by_pair"] == {"train-valid": 0, "train-test": 0, "valid-test": 0}
    for split in SPLITS:
        images = sorted((tmp_path / "out" / split / "images").iterdir())
        masks = sorted((tmp_path / "out" / split / "masks").iterdir())
        assert [p.stem for p in images] == [p.stem for p in masks]


def test_random_mode_is_the_seeds_per_file_split_and_leaks_cells(master, tmp_path):
    result = split_master(master, tmp_path / "out", mode="random", seed=1, verbose=False)
    total = CELLS * 13
    assert result["train"]["images"] == int(total * 0.8)
    assert result["valid"]["images"] == int(total * 0.15)
    assert result["test"]["images"] == total - int(total * 0.8) - int(total * 0.15)
    assert check_split(tmp_path / "out", verbose=False)["shared_cells"] > 0


@pytest.mark.parametrize("mode", ["grouped", "random"])
def test_same_seed_same_split_other_seed_other_split(master, tmp_path, mode):
    split_master(master, tmp_path / "a", mode=mode, seed=7, verbose=False)
    split_master(master, tmp_path / "b", mode=mode, seed=7, verbose=False)
    split_master(master, tmp_path / "c", mode=mode, seed=8, verbose=False)
    assert split_names(tmp_path / "a") == split_names(tmp_path / "b")
    assert split_names(tmp_path / "a") != split_names(tmp_path / "c")


@pytest.mark.parametrize("sizes, ratios", [
    ([13] * 10, (0.8, 0.15, 0.05)),
    ([13] * 7 + [1, 2, 5], (0.6, 0.2, 0.2)),
    ([4] * 25, (0.7, 0.3, 0.0)),
    ([13] * 3, (1.0, 0.0, 0.0)),
])
def test_grouped_assignment_is_within_one_cell_of_each_ratio(sizes, ratios):
    prefixes = ["", "mirrored_", "flipped_"] + [f"rotated_{a}_" for a in range(30, 360, 30)]
    names = [f"{p}cell{c}.jpg" for c, n in enumerate(sizes) for p in prefixes[:n]]
    assignment = grouped_assignment(names, ratios, seed=0)
    by_cell: dict[str, set[int]] = {}
    for name, split in zip(names, assignment):
        by_cell.setdefault(source_cell_id(name), set()).add(split)
    assert all(len(s) == 1 for s in by_cell.values())
    for index, ratio in enumerate(ratios):
        count = assignment.count(index)
        assert abs(count - ratio * len(names)) <= max(sizes), (index, count)
        if ratio == 0:
            assert count == 0


def test_random_assignment_counts():
    assignment = random_assignment(100, (0.8, 0.15, 0.05), seed=0)
    assert [assignment.count(i) for i in range(3)] == [80, 15, 5]


@pytest.mark.parametrize("ratios", [(0.5, 0.5), (0.9, 0.2, 0.0), (0.0, 0.5, 0.5), (1.1, -0.1, 0.0), ("a", 0, 1)])
def test_bad_ratios_raise_config_error(ratios):
    with pytest.raises(ConfigError, match="^ratios: expected"):
        check_ratios(ratios)


def test_non_empty_output_is_refused_unless_force_which_backs_it_up(master, tmp_path):
    out = tmp_path / "Pap-Smear" / "severe_dysplastic"
    out.mkdir(parents=True)
    (out / "readme.txt").write_text("earlier work")
    with pytest.raises(OutputError, match="expected an empty or new folder.*--force"):
        split_master(master, out, verbose=False)
    assert (out / "readme.txt").read_text() == "earlier work"
    split_master(master, out, force=True, verbose=False)
    backups = list(out.parent.glob("severe_dysplastic_*_bak"))
    assert len(backups) == 1 and (backups[0] / "readme.txt").read_text() == "earlier work"
    assert check_split(out, verbose=False)["images"]["train"] > 0
    with pytest.raises(OutputError):
        split_master(master, out, verbose=False)


def test_output_holding_the_input_is_refused(master):
    with pytest.raises(OutputError, match="holds the input"):
        split_master(master, master.parent, force=True, verbose=False)
    assert (master / "images").is_dir()


def test_unpaired_files_and_missing_input_raise_data_error(tmp_path):
    root = tmp_path / "master"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "images" / "a.jpg")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "images" / "b.jpg")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "masks" / "a.jpg")
    with pytest.raises(DataError, match="b.jpg"):
        split_master(root, tmp_path / "out", verbose=False)
    with pytest.raises(DataError, match="expected a folder with images/ and masks/"):
        split_master(tmp_path / "nowhere", tmp_path / "out", verbose=False)
    assert not (tmp_path / "out").exists()


def test_check_split_needs_two_splits(tmp_path):
    (tmp_path / "train" / "images").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "train" / "images" / "a.jpg")
    with pytest.raises(DataError, match="at least two of"):
        check_split(tmp_path)
