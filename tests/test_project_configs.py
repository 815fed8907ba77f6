"""Every config shipped under projects/ loads, the seed recipe builds the seed's UNet, the measured recipes ship."""

import json
import math
from dataclasses import asdict

import pytest

from conftest import REPO
from flexunet.config import load_config
from flexunet.generators.config import load_generator_config
from flexunet.model.store import unet_from_section
from flexunet.training.setup import training_batch_size

CONFIGS = sorted((REPO / "projects").glob("*/*train_eval_infer.config"))
GENERATOR_CONFIGS = sorted((REPO / "projects").glob("*/generator/*.config"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_project_config_loads(path):
    config = load_config(path)
    assert config.train.image_datapath.startswith(str(path.parent))


@pytest.mark.parametrize("path", GENERATOR_CONFIGS, ids=lambda p: f"{p.parents[1].name}/{p.name}")
def test_generator_config_loads(path):
    assert load_generator_config(path).generator.cropsize == 128


@pytest.mark.parametrize("project", ["Pap-Smear", "Seamless-Pap-Smear"])
def test_seed_recipe_builds_the_seeds_31_110_001_parameters(project):
    config = load_config(REPO / "projects" / project / "seed_train_eval_infer.config")
    assert unet_from_section(config.model).count_params() == 31_110_001


WHERE_KEYS = {"model_dir", "eval_dir", "image_datapath", "mask_datapath", "create_backup", "validation",
              "resume", "epoch_change_infer", "epoch_change_infer_dir"}
MEASURED = {  # shipped config -> the bench/results run whose figure the README quotes for it
    "train_eval_infer.config": "ensemble_mixed5",
    "cpu_train_eval_infer.config": "cpu_auto",
}


def recipe_of(config, train_images: int | None = None) -> dict:
    """The keys that decide what is learnt: everything but folders, validation source and resume. With
    `train_images`, the batch size is the one training uses on that many images (min_steps_per_epoch
    applied), so a key that changes nothing on the measured data set does not count as a difference."""
    train = {k: v for k, v in asdict(config.train).items() if k not in WHERE_KEYS}
    if train_images is not None:
        train["batch_size"] = training_batch_size(train["batch_size"], train_images, train.pop("min_steps_per_epoch"))
    sections = ("model", "mask", "generator", "augmentor", "postprocess")
    return {"train": train, **{s: asdict(getattr(config, s)) for s in sections}}


@pytest.mark.parametrize("name, result", sorted(MEASURED.items()))
def test_shipped_configs_are_the_recipes_the_readme_measured(tmp_path, name, result):
    """The README's results table quotes bench/results/quality.json's entry <result> for these configs."""
    from bench import quality

    report = json.loads((REPO / "bench" / "results" / "quality.json").read_text())[result]
    (tmp_path / "recipe.config").write_text(report["recipe_text"])
    measured = load_config(quality.derived_config(tmp_path / "recipe.config", tmp_path,
                                                   None, report.get("overrides", [])))
    # The fewest training images the run can have had: its training cells less the validation share, 13 copies each.
    images = math.floor(report["train_cells"] * (1 - measured.train.validation_split)) * 13
    assert images >= 1000
    shipped = load_config(REPO / "projects" / "Pap-Smear" / name)
    assert recipe_of(shipped, images) == recipe_of(measured, images)


@pytest.mark.parametrize("name", ["train_eval_infer.config", "cpu_train_eval_infer.config",
                                  "seed_train_eval_infer.config"])
def test_seamless_project_ships_the_same_recipes(name):
    projects = REPO / "projects"
    assert (recipe_of(load_config(projects / "Seamless-Pap-Smear" / name))
            == recipe_of(load_config(projects / "Pap-Smear" / name)))
