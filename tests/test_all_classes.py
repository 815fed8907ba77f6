"""Seven Herlev classes, nucleus and cytoplasm, end to end: synthetic raw cells -> generator (label masks)
-> split grouped by cell and stratified by class -> 3-class training -> per-class evaluation (label classes
and Herlev classes) -> inference (label PNGs, overlays) -> cells.csv with the N/C ratio."""

import csv

import numpy as np
import pytest
from PIL import Image

from conftest import tiny_model_section, write_config
from flexunet.config import load_config
from flexunet.data.pairs import shared_cells
from flexunet.generators.dataset_generator import generate
from flexunet.generators.herlev import CLASSES
from flexunet.generators.split import split_master
from flexunet.generators.synthetic import write_raw_dataset


def rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def all_classes(tmp_path_factory):
    root = tmp_path_factory.mktemp("all_classes")
    write_raw_dataset(root / "raw", 4, seed=3)
    generate(root / "raw", root / "master", 312, 128, progress=False, targets="nucleus_cytoplasm")
    split = split_master(root / "master", root / "split", ratios=(0.5, 0.25, 0.25), verbose=False)
    folders = {s: {k: f'"{root / "split" / s / k}"' for k in ("images", "masks")} for s in ("train", "valid", "test")}
    config = load_config(write_config(
        root, model=tiny_model_section(num_classes=3, image_width=64, image_height=64, base_filters=8,
                                       learning_rate=3e-3, loss='"cce_dice_loss"',
                                       metrics=["dice_nucleus", "dice_cytoplasm"]),
        train={"epochs": 12, "batch_size": 8, "patience": 0, "validation": '"eval"', "seed": 1,
               "image_datapath": folders["train"]["images"], "mask_datapath": folders["train"]["masks"]},
        eval={"image_datapath": folders["valid"]["images"], "mask_datapath": folders["valid"]["masks"]},
        test={"image_datapath": folders["test"]["images"], "mask_datapath": folders["test"]["masks"]},
        infer={"images_dir": folders["test"]["images"], "output_dir": '"./out"', "merged_dir": '"./merged"',
               "pixel_size_um": 0.5},
        postprocess={"tta": True}))
    from flexunet.evaluation.run import run_evaluation
    from flexunet.inference.run import run_inference
    from flexunet.training.run import run_training

    info = run_training(config, verbose=0)
    return {"root": root, "split": split, "config": config, "info": info,
            "evaluation": run_evaluation(config, "test"), "masks": run_inference(config)}


def test_the_generator_writes_label_pngs_of_every_class(all_classes):
    master = all_classes["root"] / "master"
    assert sorted(p.name for p in master.iterdir() if p.is_dir()) == sorted(CLASSES)
    for class_name in CLASSES:
        masks = sorted((master / class_name / "masks").glob("*.png"))
        assert len(masks) == 4 * 13
        values = set(np.unique(np.concatenate([np.asarray(Image.open(m)).ravel() for m in masks[:13]])))
        assert values == {0, 128, 255}, class_name


def test_the_split_is_grouped_by_cell_stratified_by_class_and_recorded(all_classes):
    split_dir = all_classes["root"] / "split"
    recorded = rows(split_dir / "classes.csv")
    assert len(recorded) == 7 * 4 * 13 and {r["class"] for r in recorded} == set(CLASSES)
    names = {s: sorted(p.name for p in (split_dir / s / "images").iterdir()) for s in ("train", "valid", "test")}
    assert not shared_cells(names["train"], names["test"]) and not shared_cells(names["train"], names["valid"])
    for s in ("train", "valid", "test"):
        classes = {r["class"] for r in recorded if r["split"] == s}
        assert classes == set(CLASSES), s          # every class on every side (2 + 1 + 1 cells of 4)
        assert {r["file"] for r in recorded if r["split"] == s} == set(names[s])


def test_the_three_class_model_learns_nucleus_and_cytoplasm(all_classes):
    """Well above what labelling every pixel cytoplasm would score, 2f / (1 + f) for a cytoplasm fraction f
    (the synthetic cells have a neighbour's cytoplasm-coloured edge that is background)."""
    info, result = all_classes["info"], all_classes["evaluation"]
    masks = np.stack([np.asarray(Image.open(p)) for p in sorted((all_classes["root"] / "split" / "test" / "masks").iterdir())])
    f = float(np.mean(masks == 128))
    assert info["validation_dice"] > 0.6
    assert result["pixel_dice_nucleus"] > 0.85 and result["pixel_dice_cytoplasm"] > 2 * f / (1 + f) + 0.1
    for name in ("nucleus", "cytoplasm"):
        assert result[f"pixel_dice_{name}_ci95_low"] <= result[f"pixel_dice_{name}"] <= \
            result[f"pixel_dice_{name}_ci95_high"]
    assert sorted(result["herlev_classes"]) == sorted(CLASSES)
    assert result["cells_true"] == 7 * 13 and result["cells_found"] > 0.5 * result["cells_true"]
    assert np.isfinite(result["nc_ratio_mae"]) and np.isfinite(result["nucleus_area_px_mae"])


def test_evaluation_files_report_classes_cells_and_bland_altman(all_classes):
    out = all_classes["config"].test.output_dir
    metrics = {r["metric"]: r["value"] for r in rows(f"{out}/evaluation.csv")}
    for key in ("pixel_dice_nucleus", "pixel_dice_cytoplasm", "pixel_dice_nucleus_ci95_low", "nc_ratio_mae",
                "nucleus_area_px_mean_relative_error", "cells_missed",
                *(f"{c}/pixel_dice" for c in CLASSES), *(f"{c}/pixel_dice_ci95_high" for c in CLASSES)):
        assert key in metrics, key
    per_image = rows(f"{out}/per_image.csv")
    assert {r["herlev_class"] for r in per_image} == set(CLASSES)
    assert {"dice_nucleus", "dice_cytoplasm", "true_pixels_cytoplasm"} <= set(per_image[0])
    for name in ("bland_altman_nucleus_area.png", "bland_altman_nc_ratio.png", "worst_cases.png"):
        assert (out_path := all_classes["root"] / "test_eval_output" / name).exists(), out_path


def test_inference_writes_label_pngs_overlays_and_cells(all_classes):
    root = all_classes["root"]
    for mask in all_classes["masks"][:10]:
        assert set(np.unique(np.asarray(Image.open(mask)))) <= {0, 128, 255}
        assert np.asarray(Image.open(root / "merged" / mask.name)).shape[2] == 3
    cells = rows(root / "out" / "cells.csv")
    assert len(cells) >= 0.5 * len(all_classes["masks"])
    measured = [c for c in cells if c["nc_ratio"] != "nan"]
    assert len(measured) >= 0.5 * len(cells)
    for c in measured:
        area, cyto, nc = float(c["nucleus_area_px"]), float(c["cytoplasm_area_px"]), float(c["nc_ratio"])
        assert nc == pytest.approx(area / cyto, rel=1e-4)
        assert float(c["nucleus_area_um2"]) == pytest.approx(area * 0.25, rel=1e-4)
        assert float(c["nucleus_to_cell"]) == pytest.approx(area / (area + cyto), rel=1e-4)
