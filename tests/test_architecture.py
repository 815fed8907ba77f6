"""The package's shape: stages import only lower stages, file formats have one home, call targets are real
imports, entry points stay thin and modules small."""

import ast
from dataclasses import fields
from pathlib import Path

import pytest

from flexunet.model.record import CellRule, ModelRecord, RuleOption, TrainingRun
from flexunet.training.state import TrainState

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "flexunet"
# Lower stages first: a module may import its own stage or a lower one, never a higher one.
STAGES = {"errors": 0, "registry": 0, "fsutil": 0, "locks": 0, "provenance": 0, "config": 1, "data": 2, "plots": 2,
          "generators": 3, "model": 3, "inference": 4, "evaluation": 5, "training": 6, "cli": 7}
TOP_LEVEL_SCRIPTS = sorted(REPO.glob("TensorflowUNet*.py")) + [REPO / "ImageMaskDataset.py"]


def modules(root: Path = PACKAGE) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def stage(module: str) -> str | None:
    """The stage of a dotted flexunet module name ("flexunet.data.io" -> "data"), None for the package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "flexunet" else None


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every flexunet import in a file, lazy ones inside functions included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flexunet"):
            names = [node.module] if node.module != "flexunet" else [f"flexunet.{a.name}" for a in node.names]
            found += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("flexunet")]
    return found


def upward_imports(files: list[Path], root: Path = PACKAGE) -> list[str]:
    """'file:line imports module (stage a -> b)' for each import of a higher stage."""
    problems = []
    for path in files:
        own = path.relative_to(root).parts[0].removesuffix(".py")
        if own == "__init__":
            continue
        for line, module in imported(path):
            target = stage(module)
            if target in STAGES and own in STAGES and STAGES[target] > STAGES[own]:
                problems.append(f"{path.relative_to(root.parent)}:{line} imports {module} ({own} -> {target})")
    return problems


def test_every_stage_is_ranked():
    tops = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in modules()} - {"__init__"}
    assert tops <= set(STAGES), sorted(tops - set(STAGES))


def test_no_stage_imports_a_higher_one():
    assert upward_imports(modules()) == []


def test_the_scan_finds_an_upward_import(tmp_path):
    """The scan itself: a model module importing inference is reported, a lazy import included."""
    (tmp_path / "flexunet" / "model").mkdir(parents=True)
    bad = tmp_path / "flexunet" / "model" / "bad.py"
    bad.write_text("from flexunet.data.io import read_image\n\ndef f():\n    from flexunet.inference import run\n")
    assert upward_imports([bad], tmp_path / "flexunet") == ["flexunet/model/bad.py:4 imports flexunet.inference "
                                                           "(model -> inference)"]


def record_keys() -> set[str]:
    """The keys of model_info.json and train_state.json that name only the records' own fields."""
    keys = {f.name for cls in (ModelRecord, TrainingRun, RuleOption, CellRule, TrainState) for f in fields(cls)}
    common = {"threshold", "keep_largest", "fill_holes", "model", "backend", "config", "batch_size", "epoch",
              "best", "wait", "history", "run", "cells", "validation", "members", "stopped"}
    return keys - common


def string_literals(path: Path) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_the_records_keys_are_written_in_their_own_module_only():
    """No other module reads model_info.json or train_state.json by string keys."""
    homes = {PACKAGE / "model" / "record.py", PACKAGE / "training" / "state.py"}
    files = [p for p in modules() + modules(REPO / "bench") + TOP_LEVEL_SCRIPTS if p not in homes]
    found = {f"{p.relative_to(REPO)}: {k}" for p in files for k in string_literals(p) & record_keys()}
    assert not found, sorted(found)


def test_call_targets_are_imports_not_strings():
    for path in modules() + TOP_LEVEL_SCRIPTS:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr == "import_module"]
        assert not calls, f"{path.relative_to(REPO)}: importlib.import_module hides a call target"


@pytest.mark.parametrize("script", TOP_LEVEL_SCRIPTS, ids=lambda p: p.name)
def test_top_level_scripts_are_thin(script):
    assert len(script.read_text(encoding="utf-8").splitlines()) <= 40


def test_no_module_is_much_over_400_lines():
    long = {str(p.relative_to(REPO)): n for p in modules() + modules(REPO / "bench")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 420}
    assert not long, long
