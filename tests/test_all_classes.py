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
                                       learning_rate=3e-3, head='"cells"', loss='"cells_loss"',
                                       metrics=["cells_dice_cell", "cells_dice_nucleus"]),
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
    """The cells head of the shipped all-classes config, CPU-sized (64 px, 8 filters, 12 epochs): measured
    nucleus Dice 0.970 and cytoplasm 0.814 on the unseen cells (cytoplasm everywhere would score 2f / (1 + f)
    for a cytoplasm share f), and cell by cell all 91 nuclei found with none spurious, 76 cells of 91 with
    whole-cell Dice above 0.7 (their mean 0.877), nucleus Dice 0.938 per nucleus."""
    info, result = all_classes["info"], all_classes["evaluation"]
    mask_folder = all_classes["root"] / "split" / "test" / "masks"
    masks = np.stack([np.asarray(Image.open(p)) for p in sorted(mask_folder.iterdir())])
    f = float(np.mean(masks == 128))
    assert info.validation_dice > 0.9 and info.cells is not None
    assert result["pixel_dice_nucleus"] > 0.94 and result["pixel_dice_cytoplasm"] > max(0.75, 2 * f / (1 + f) + 0.15)
    for name in ("nucleus", "cytoplasm"):
        assert result[f"pixel_dice_{name}_ci95_low"] <= result[f"pixel_dice_{name}"] <= \
            result[f"pixel_dice_{name}_ci95_high"]
    assert sorted(result["herlev_classes"]) == sorted(CLASSES)
    assert result["truth_cells"] == 7 * 13 and result["nucleus_recall"] >= 0.95 and result["nuclei_ratio"] <= 1.05
    assert result["good_cells"] >= 0.75 * result["truth_cells"] and result["cell_dice"] > 0.83
    assert result["nucleus_dice"] > 0.9 and result["nc_ratio_median_relative_error"] < 0.35


def test_evaluation_files_report_classes_cells_and_bland_altman(all_classes):
    out = all_classes["config"].test.output_dir
    metrics = {r["metric"]: r["value"] for r in rows(f"{out}/evaluation.csv")}
    for key in ("pixel_dice_nucleus", "pixel_dice_cytoplasm", "pixel_dice_nucleus_ci95_low", "cell_dice", "cell_fno",
                "aji_cell", "nucleus_precision", "nc_ratio_median_relative_error", "nuclei_ratio",
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
    assert 0.95 * len(all_classes["masks"]) <= len(cells) <= 1.05 * len(all_classes["masks"])  # one cell each
    measured = [c for c in cells if c["nc_ratio"] != "nan"]
    assert len(measured) >= 0.95 * len(cells)
    for c in measured:
        area, cyto, nc = float(c["nucleus_area_px"]), float(c["cytoplasm_area_px"]), float(c["nc_ratio"])
        assert nc == pytest.approx(area / cyto, rel=1e-4)
        assert float(c["nucleus_area_um2"]) == pytest.approx(area * 0.25, rel=1e-4)
        assert float(c["nucleus_to_cell"]) == pytest.approx(area / (area + cyto), rel=1e-4)


def test_each_image_s_cells_open_in_qupath_and_napari_and_match_cells_csv(all_classes):
    """<stem>.geojson: valid geometries (the reader refuses invalid ones), the same cells as <stem>_cells.tif,
    and each cell's properties equal its cells.csv row."""
    from shapely.geometry import shape

    from flexunet.data.cell_labels import read_cell_labels
    from flexunet.data.geojson import read_cells_geojson, read_geojson_measurements

    root = all_classes["root"]
    table = rows(root / "out" / "cells.csv")
    for mask in all_classes["masks"][:12]:
        size = Image.open(mask).size[::-1]
        geojson, tif = root / "out" / f"{mask.stem}.geojson", root / "out" / f"{mask.stem}_cells.tif"
        cells = read_cells_geojson(geojson, size)
        labelled = read_cell_labels(tif, size)
        assert [c.id for c in cells] == [c.id for c in labelled]
        for a, b in zip(cells, labelled):      # one cell per crop: no overlap, so the TIFF holds it whole
            assert a.box == b.box and np.array_equal(a.cell, b.cell) and np.array_equal(a.nucleus, b.nucleus)
        import json
        assert all(shape(f["geometry"]).is_valid for f in json.loads(geojson.read_text())["features"])
        written = {int(r["cell"]): r for r in table if r["file"].rsplit(".", 1)[0] == mask.stem}
        measurements = read_geojson_measurements(geojson)
        assert set(measurements) == set(written)
        for cell_id, row in written.items():
            for key, value in row.items():
                if key == "file":
                    continue
                expected = float(value)
                got = float(measurements[cell_id][key])
                assert (np.isnan(got) and np.isnan(expected)) or got == pytest.approx(expected, abs=1e-6), key
