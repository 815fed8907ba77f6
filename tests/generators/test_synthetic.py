"""Synthetic raw cells: Herlev file format, determinism, a darker nucleus (drawing speed: bench/generator.py)."""

import re

import numpy as np
import pytest
from PIL import Image

from flexunet.errors import ConfigError, OutputError
from flexunet.generators.herlev import BACKGROUND, CYTOPLASM, GREY, NUCLEUS, find_cells, read_cell
from flexunet.generators.synthetic import write_raw_dataset

NAME = re.compile(r"^\d{9}-\d{9}-\d{3}$")
HERLEV_COLOURS = {BACKGROUND, CYTOPLASM, NUCLEUS, GREY}


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "New database pictures"
    result = write_raw_dataset(out, {"severe_dysplastic": 10, "normal_columnar": 2}, seed=4)
    return out, result


def test_files_follow_the_herlev_format(raw):
    out, result = raw
    assert result["cells"] == {"normal_columnar": 2, "severe_dysplastic": 10}
    assert result["total"] == 12 and result["with_grey"] == 2
    cells, report = find_cells(out)
    assert len(cells) == 12 and report.skipped == 0 and not report.stray_files
    greys = 0
    for cell in cells:
        assert NAME.match(cell.stem) and cell.image.name.endswith(".BMP") and cell.mask.name.endswith("-d.bmp")
        with Image.open(cell.image) as image, Image.open(cell.mask) as mask:
            assert image.mode == "RGB" and mask.mode == "P"
            w, h = image.size
            assert 60 <= w <= 300 and 60 <= h <= 300 and w != h
            colours = {tuple(c) for c in np.asarray(mask.convert("RGB")).reshape(-1, 3)}
        assert colours <= HERLEV_COLOURS and {BACKGROUND, CYTOPLASM, NUCLEUS} <= colours
        greys += GREY in colours
    assert greys == 2


def test_nucleus_is_darker_than_its_cytoplasm(raw):
    out, _ = raw
    for cell in find_cells(out)[0]:
        image, nucleus = read_cell(cell)
        labels = np.asarray(Image.open(cell.mask))
        grey = image.astype(float).mean(axis=2)
        assert 0.003 < nucleus.mean() < 0.2
        assert grey[labels == 1].mean() - grey[nucleus].mean() > 30, cell.stem
        colour = np.asarray(image, float)
        assert np.linalg.norm(colour[labels == 1].mean(0) - colour[labels == 0].mean(0)) > 25, cell.stem


def test_same_seed_same_bytes_other_seed_other_cells(tmp_path):
    def files(folder):
        return {p.name: p.read_bytes() for p in sorted(folder.rglob("*.*")) if not p.name.startswith(".")}

    write_raw_dataset(tmp_path / "a", {"light_dysplastic": 3}, seed=9)
    write_raw_dataset(tmp_path / "b", {"light_dysplastic": 3}, seed=9)
    write_raw_dataset(tmp_path / "c", {"light_dysplastic": 3}, seed=10)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert set(files(tmp_path / "a")) != set(files(tmp_path / "c"))


def test_an_int_count_fills_every_class(tmp_path):
    result = write_raw_dataset(tmp_path / "all", 1, seed=0)
    assert len(result["cells"]) == 7 and result["total"] == 7
    assert len({c.stem for c in find_cells(tmp_path / "all")[0]}) == 7


@pytest.mark.parametrize("counts, phrase", [
    ({"severe": 3}, "expected class names among"),
    ({"severe_dysplastic": -1}, "expected an int >= 0"),
    ("many", "expected an int or a dict"),
])
def test_bad_counts_raise_config_error(tmp_path, counts, phrase):
    with pytest.raises(ConfigError, match=phrase):
        write_raw_dataset(tmp_path / "x", counts)


def test_refuses_a_foreign_non_empty_folder(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.txt").write_text("x")
    with pytest.raises(OutputError):
        write_raw_dataset(tmp_path / "photos", 1)
