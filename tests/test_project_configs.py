"""Every config shipped under projects/ loads, and the seed recipe there builds the seed's UNet."""

import pytest

from conftest import REPO
from flexunet.config import load_config
from flexunet.generators.config import load_generator_config
from flexunet.modelio import unet_from_section

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
