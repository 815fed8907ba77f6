"""Generator config parsing and the generate/split/synth command lines (exit codes, one-line errors)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flexunet.cli import generators as cli
from flexunet.errors import ConfigError
from flexunet.generators.config import load_generator_config
from flexunet.generators.synthetic import write_raw_dataset

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "projects" / "Pap-Smear" / "generator"


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO)
    e.pop("FLEXUNET_DEBUG", None)
    return e


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env(), capture_output=True, text=True, timeout=120)


def write(folder: Path, text: str, name: str = "image_mask_generator.config") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """[generator]
base_dir   = "./New database pictures"
output_dir = "./Smear2005-master"
resize     = 160
cropsize   = 64
seamless_cloning = False

[maskcolor]
normal_columnar = (255, 255, 0)
"""


def test_config_paths_resolve_against_the_config_folder(tmp_path):
    config = load_generator_config(write(tmp_path, GOOD))
    g = config.generator
    assert g.base_dir == str(tmp_path / "New database pictures")
    assert g.output_dir == str(tmp_path / "Smear2005-master")
    assert (g.resize, g.cropsize, g.seamless_cloning) == (160, 64, False)
    assert config.mask_colors == {"normal_columnar": (255, 255, 0)}
    defaults = load_generator_config(write(tmp_path, "[generator]\n", "empty.config")).generator
    assert (defaults.resize, defaults.cropsize) == (312, 128)
    assert defaults.output_dir == str(tmp_path / "Smear2005-master")


@pytest.mark.parametrize("text, phrase", [
    ("[generator]\ncropsise = 128\n", "[generator] cropsise in {p}: unknown key (did you mean 'cropsize'?)"),
    ("[generatr]\n", "[generatr] in {p}: unknown section (did you mean 'generator'?)"),
    ("[maskcolor]\nsevere_dysplasia = (1, 2, 3)\n",
     "[maskcolor] severe_dysplasia in {p}: unknown class (did you mean 'severe_dysplastic'?)"),
    ("[maskcolor]\nsevere_dysplastic = (1, 2)\n",
     "[maskcolor] severe_dysplastic in {p}: expected an (r, g, b) colour of three ints 0..255"),
    ("[generator]\nresize = 128\ncropsize = 128\n",
     "[generator] cropsize in {p}: expected an int less than resize (128), got 128"),
    ("[generator]\nseamless_cloning = maybe\n",
     "[generator] seamless_cloning in {p}: expected True or False, got 'maybe'"),
    ("[generator]\nresize = __import__('os')\n", "[generator] resize in {p}: expected an int >= 2"),
])
def test_config_errors_are_one_line_naming_the_setting(tmp_path, text, phrase):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_generator_config(path)
    assert str(info.value).startswith(phrase.format(p=path))
    assert "\n" not in str(info.value)


def test_generate_then_split_from_a_project_folder(tmp_path):
    write_raw_dataset(tmp_path / "New database pictures", {"severe_dysplastic": 6, "normal_columnar": 1}, seed=2)
    write(tmp_path, GOOD)
    done = run([str(GENERATOR / "ImageMaskDatasetGenerator.py"), "--no-progress"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "severe_dysplastic: 6 cells -> 78 image/mask pairs" in done.stdout
    assert len(list((tmp_path / "Smear2005-master" / "severe_dysplastic" / "masks").iterdir())) == 78

    done = run([str(GENERATOR / "split_master.py")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "source cells shared between splits: 0" in done.stdout
    assert (tmp_path / "Pap-Smear" / "severe_dysplastic" / "train" / "images").is_dir()

    again = run([str(GENERATOR / "split_master.py")], tmp_path)
    assert again.returncode == 1
    assert again.stderr.strip().count("\n") == 0 and again.stderr.startswith("error: output ")
    assert "Traceback" not in again.stderr


def test_errors_exit_1_with_one_line_and_traceback_only_with_debug(tmp_path):
    missing = run([str(GENERATOR / "ImageMaskDatasetGenerator.py")], tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: config file ./image_mask_generator.config: not found"
    write(tmp_path, GOOD)
    no_data = run([str(GENERATOR / "ImageMaskDatasetGenerator.py"), "--debug"], tmp_path)
    assert no_data.returncode == 1
    assert "Traceback" in no_data.stderr
    assert no_data.stderr.strip().splitlines()[-1].startswith("error: base_dir ")


def test_the_command_modules_do_not_import_keras(tmp_path):
    code = ("import sys, flexunet.cli.generators, flexunet.generators.dataset_generator, "
            "flexunet.generators.split, flexunet.generators.synthetic; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))")
    done = run(["-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_split_check_and_synth_in_process(tmp_path, capsys):
    assert cli.synth_main(["--output", str(tmp_path / "raw"), "--per-class", "2", "--classes",
                           "severe_dysplastic", "--seed", "3"]) == 0
    assert "Wrote 2 synthetic cells" in capsys.readouterr().out
    assert cli.split_main(["--check", str(tmp_path / "nothing")]) == 1
    assert capsys.readouterr().err.startswith("error: split folder ")
    assert cli.split_main(["--ratios", "0.5", "0.4", "0.3", "--input", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip().startswith("error: ratios: expected")


def test_ctrl_c_exits_130(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("flexunet.generators.split.split_master", interrupted)
    assert cli.split_main(["--input", str(tmp_path), "--output", str(tmp_path / "out")]) == 130
    assert "interrupted: the split is incomplete" in capsys.readouterr().err


@pytest.mark.parametrize("config, seamless, output", [
    ("Pap-Smear/generator/image_mask_generator.config", False, "Smear2005-master"),
    ("Seamless-Pap-Smear/generator/image_mask_generator.config", False, "Smear2005-master"),
    ("Seamless-Pap-Smear/generator/image_mask_generator_seamless.config", True, "Seamless-Smear2005-master"),
])
def test_project_generator_configs_load(config, seamless, output):
    parsed = load_generator_config(REPO / "projects" / config)
    g = parsed.generator
    assert (g.resize, g.cropsize, g.seamless_cloning) == (312, 128, seamless)
    assert Path(g.output_dir).name == output and Path(g.base_dir).name == "New database pictures"
    assert parsed.mask_colors["severe_dysplastic"] == (255, 255, 255)
    assert len(parsed.mask_colors) == 7
