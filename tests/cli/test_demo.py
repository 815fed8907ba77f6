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


def test_every_part_of_the_demo_gets_a_config_that_loads_and_its_data(tmp_path):
    from flexunet.cli.demo import CLASSES_CONFIG, FIELD_COUNTS, FIELD_SIZE, FIELDS_CONFIG, prepare

    project = prepare(tmp_path / "demo", cells=12, seed=0, epochs=2, parts=["nucleus", "classes", "fields"])
    classes = load_config(project / CLASSES_CONFIG)
    assert (classes.model.num_classes, classes.model.head, classes.model.loss, classes.train.epochs) == (
        3, "cells", "cells_loss", 2)
    assert not classes.train.epoch_change_infer
    fields = load_config(project / FIELDS_CONFIG)
    assert (fields.model.image_width, fields.model.image_height) == (FIELD_SIZE, FIELD_SIZE)
    assert fields.model.head == "cells" and fields.infer.pixel_size_um == 0.5
    raw = project / "generator" / "All classes"
    assert len([d for d in raw.iterdir() if d.is_dir()]) == 7
    for split, count in FIELD_COUNTS.items():
        assert len(list((project / "fields" / split / "images").glob("*.png"))) == count
        assert len(list((project / "fields" / split / "cells").glob("*.geojson"))) == count
    assert len(list((project / "mini_test").glob("*.BMP"))) == 6
