"""pip-installable: the wheel holds every package module and its console commands run."""

import importlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")
ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.mark.parametrize("command, target", sorted(SCRIPTS.items()))
def test_console_script_targets_are_callables(command, target):
    module_name, _, function = target.partition(":")
    assert callable(getattr(importlib.import_module(module_name), function)), command


def test_requirements_match_pyproject_dependencies():
    """requirements.txt names the same distributions as [project] dependencies."""
    def names(lines):
        return {line.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip().lower()
                for line in lines if line.strip() and not line.lstrip().startswith(("#", "-"))}

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    required = (ROOT / "requirements.txt").read_text().splitlines()
    assert names(declared) == names(required)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The project built as a wheel and installed (without dependencies) into a fresh folder."""
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(work / "dist"), str(ROOT)], capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(f"pip wheel failed: {build.stderr[-2000:]}")
    wheel = next((work / "dist").glob("flexunet-*.whl"))
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    return wheel, target


def test_wheel_holds_every_module(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    package = {str(p.relative_to(ROOT)) for p in (ROOT / "flexunet").rglob("*.py")}
    assert package <= names, sorted(package - names)


def test_installed_console_command_runs(installed, tmp_path):
    """flexunet-train from the installed wheel: --help works, a missing config is one error line."""
    _, target = installed
    script = target / "bin" / "flexunet-train"
    env = {**os.environ, "PYTHONPATH": str(target)}
    help_run = subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
    assert help_run.returncode == 0 and "usage: flexunet-train" in help_run.stdout
    missing = subprocess.run([sys.executable, str(script), "nowhere.config"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1].startswith("error: config file nowhere.config")
