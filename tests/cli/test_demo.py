"""flexunet/demo.py: the README demo's CPU-sized variant of the shipped config."""

from flexunet.cli.demo import PROJECT, demo_config
from flexunet.config import load_config


def test_the_demo_config_is_one_small_unet_of_the_shipped_recipe(tmp_path):
    """The shipped config is an ensemble of several widths; the demo trains one 8-filter UNet on it."""
    shipped = load_config(PROJECT / "train_eval_infer.config")
    demo_config(PROJECT / "train_eval_infer.config", tmp_path / "demo.config", epochs=3)
    config = load_config(tmp_path / "demo.config")
    assert (config.train.ensemble, config.train.ensemble_base_filters) == (1, ())
    assert (config.model.base_filters, config.model.num_layers, config.train.epochs) == (8, 4, 3)
    assert config.model.loss == shipped.model.loss and config.postprocess == shipped.postprocess
