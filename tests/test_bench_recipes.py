"""bench/bench_recipes.py: which members a recipe's epoch is timed from."""

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("bench_recipes",
                                              Path(__file__).resolve().parents[1] / "bench" / "bench_recipes.py")
recipes = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(recipes)


@pytest.mark.parametrize("text, widths", [
    ("[model]\nbase_filters = 8\n", [8]),
    ("[train]\nepochs = 3\n", [16]),
    ("[model]\nbase_filters = 8\n[train]\nensemble = 3\n", [8, 8, 8]),
    ("[model]\nbase_filters = 8\n[train]\nensemble = 4\nensemble_base_filters = [8, 8, 8, 16]  ; mixed\n",
     [8, 8, 8, 16]),
    ("[model]\nbase_filters = 4\n[train]\nensemble = 2\nensemble_base_filters = []\n", [4, 4]),
])
def test_member_widths(tmp_path, text, widths):
    (tmp_path / "r.config").write_text(text)
    assert recipes.member_widths(tmp_path / "r.config") == widths


@pytest.mark.parametrize("width, widths, expected", [
    (8, [8, 8, 8], "shipped"), (8, [8, 8, 16], "shipped_f8"), (16, [8, 8, 16], "shipped_f16")])
def test_run_name(width, widths, expected):
    assert recipes.run_name("shipped", width, widths) == expected


def test_a_member_runs_alone_with_its_width(tmp_path):
    (tmp_path / "r.config").write_text("[model]\nbase_filters = 8\n[train]\nensemble = 2\n"
                                       "ensemble_base_filters = [8, 16]\n[eval]\nimage_datapath = x\n")
    path = recipes.derived(tmp_path / "r.config", tmp_path / "data", tmp_path / "work", 3, 16)
    parser = recipes.read_recipe(path)
    assert parser["model"]["base_filters"] == "16" and parser["train"]["ensemble"] == "1"
    assert "ensemble_base_filters" not in parser["train"] and not parser.has_section("eval")
    assert parser["train"]["epochs"] == "3"
