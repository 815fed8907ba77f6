"""Your own images: fields of view with several cells each. The clean-up is chosen on validation, so keeping
the largest component (one object per image) is not applied to images that hold several nuclei."""

import csv

import numpy as np
import pytest

from conftest import tiny_model_section, write_config
from flexunet.config import load_config
from flexunet.generators.fields import draw_field, write_fields

SIZE = 128


def metrics(path):
    with open(path, newline="") as handle:
        return {r["metric"]: r["value"] for r in csv.DictReader(handle)}


# What the fields test changes in the shipped CPU config besides paths and image size: a smaller model and
# fewer epochs, for CI time. Its batch size, learning rate, loss, augmentation and clean-up are the shipped ones.
SMALLER = ("model.num_layers=4", "train.epochs=40")


@pytest.fixture(scope="module")
def fields(tmp_path_factory):
    import dataclasses

    from bench.fields import fields_config
    from flexunet.evaluation.run import run_evaluation
    from flexunet.training.run import run_training

    root = tmp_path_factory.mktemp("fields")
    drawn = write_fields(root / "fields", {"train": 32, "valid": 6, "test": 8}, size=SIZE, seed=5)
    chosen = fields_config(root, SIZE, quick=False, variants=SMALLER)
    info = run_training(chosen, verbose=0)
    forced = dataclasses.replace(chosen, postprocess=dataclasses.replace(chosen.postprocess, keep_largest=True),
                                 test=dataclasses.replace(chosen.test, output_dir=str(root / "forced")))
    return {"root": root, "drawn": drawn, "info": info, "config": chosen, "auto": run_evaluation(chosen, "test"),
            "forced": run_evaluation(forced, "test")}


def test_fields_hold_several_small_nuclei(fields):
    assert fields["drawn"]["objects_per_field"][1] >= 4
    assert 0.002 < fields["drawn"]["nucleus_coverage"] < 0.03


def test_each_field_is_its_own_source_cell_so_no_split_shares_one(fields):
    from flexunet.data.pairs import shared_cells

    names = {s: [p.name for p in (fields["root"] / "fields" / s / "images").iterdir()]
             for s in ("train", "valid", "test")}
    assert len(names["train"]) == 32 and names["train"][0].startswith("train_field_")
    assert not shared_cells(names["train"], names["valid"]) and not shared_cells(names["train"], names["test"])


def test_validation_turns_keep_largest_off_and_the_unseen_fields_reach_090(fields):
    info, auto = fields["info"], fields["auto"]
    assert info.keep_largest is False
    options = {(o.keep_largest, o.fill_holes): o.validation_dice for o in info.validation_options}
    assert options[(True, False)] < options[(False, False)] - 0.2
    assert auto["pixel_dice"] >= 0.90 and auto["keep_largest"] is False


def test_the_shipped_batch_of_16_trains_the_32_fields_at_4_for_8_steps_an_epoch(fields):
    train = fields["config"].train
    assert (train.batch_size, train.min_steps_per_epoch) == (16, 8)
    assert fields["info"].run.batch_size == 4


def test_keep_largest_set_by_hand_loses_the_other_nuclei(fields):
    """The same model with keep_largest = True (set explicitly, so it wins): one nucleus per field."""
    auto, forced = fields["auto"], fields["forced"]
    assert forced["keep_largest"] is True
    assert forced["pixel_dice"] < auto["pixel_dice"] - 0.2
    assert forced["cells_found"] <= 8 < auto["cells_found"]


def test_the_inspector_counts_objects_per_mask(fields):
    from flexunet.data.inspect import describe_objects, inspect_split

    result = inspect_split(fields["root"] / "fields" / "test" / "images", fields["root"] / "fields" / "test" / "masks")
    assert max(result["objects"]) >= 3
    assert describe_objects(result).startswith(f"objects per mask {min(result['objects'])} to {max(result['objects'])}")


@pytest.mark.parametrize("grey", [True, False])
def test_fields_are_grey_or_rgb_and_deterministic(grey):
    a = draw_field(np.random.default_rng(1), 96, grey=grey)
    b = draw_field(np.random.default_rng(1), 96, grey=grey)
    assert a.image.shape == ((96, 96) if grey else (96, 96, 3)) and np.array_equal(a.image, b.image)
    assert set(np.unique(a.nucleus_mask)) <= {0, 255} and set(np.unique(a.labels)) <= {0, 1, 2}


def test_grey_fields_train_and_infer_with_one_channel(tmp_path):
    """Grey images work with image_channels = 1 (and, in the tests above, 3: replicated)."""
    from flexunet.inference.run import run_inference
    from flexunet.training.run import run_training

    write_fields(tmp_path / "f", {"train": 4, "valid": 2, "test": 2}, size=64, seed=1)
    f = tmp_path / "f"
    config = load_config(write_config(
        tmp_path, model=tiny_model_section(image_channels=1),
        train={"epochs": 1, "batch_size": 2, "validation": '"eval"', "image_datapath": f'"{f}/train/images"',
               "mask_datapath": f'"{f}/train/masks"'},
        eval={"image_datapath": f'"{f}/valid/images"', "mask_datapath": f'"{f}/valid/masks"'},
        infer={"images_dir": f'"{f}/test/images"', "output_dir": '"./out"'}))
    run_training(config, verbose=0)
    written = run_inference(config)
    assert len(written) == 2 and all(p.exists() for p in written)
