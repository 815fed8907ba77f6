"""Many images and slides through a trained model on Dask workers: the same outputs as one process, and bad
slides reported in one line while the others are done."""

import csv
import shutil

import numpy as np
import pytest
import tifffile

from conftest import tiny_model_section, write_config
from flexunet.config import load_config
from flexunet.data.pyramid import array_tiles, write_pyramid
from flexunet.generators.fields import write_fields
from flexunet.inference.distributed import run_many
from flexunet.inference.jobs import TiledInferenceJob

SIZE = 64


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny cells-head model trained 3 epochs on 64-px fields; 6 unseen fields to segment."""
    from flexunet.training.run import run_training

    root = tmp_path_factory.mktemp("many")
    write_fields(root / "fields", {"train": 8, "valid": 2, "test": 6}, size=SIZE, seed=4)
    f = root / "fields"
    config = write_config(
        root, model=tiny_model_section(num_classes=3, head='"cells"', loss='"cells_loss"',
                                       metrics=["cells_dice_nucleus"], base_filters=4),
        train={"epochs": 3, "batch_size": 4, "validation": '"eval"', "image_datapath": f'"{f}/train/images"',
               "mask_datapath": f'"{f}/train/masks"'},
        eval={"image_datapath": f'"{f}/valid/images"', "mask_datapath": f'"{f}/valid/masks"'},
        tiledinfer={"images_dir": f'"{f}/test/images"', "output_dir": '"./tiled"', "overlapping": 16},
        infer={"pixel_size_um": 0.5})
    run_training(load_config(config), verbose=0)
    return root, config


def outputs(folder) -> dict[str, bytes]:
    """Every output file's bytes by its path under `folder` (the done records, which name pids, left out)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in ("run_record.json", "run_summary.json", ".flexunet-owned")}


def test_two_workers_write_what_one_process_writes(trained, tmp_path):
    root, config = trained
    images = sorted((root / "fields" / "test" / "images").iterdir())
    alone = run_many(images, TiledInferenceJob(config), tmp_path / "alone", workers=0, progress=False)
    spread = run_many(images, TiledInferenceJob(config), tmp_path / "spread", workers=2, progress=False)
    assert len(alone.done) == len(spread.done) == 6 and not spread.failed
    a, b = outputs(tmp_path / "alone"), outputs(tmp_path / "spread")
    assert set(a) == set(b) and len([k for k in a if k.endswith(".geojson")]) == 6
    assert {k for k in a if a[k] != b[k]} == set()                  # masks, label TIFFs, GeoJSON, cells.csv
    assert alone.totals["cells"] == spread.totals["cells"] > 0


def test_bad_slides_give_one_line_each_and_the_others_are_done(trained, tmp_path):
    root, config = trained
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copy(sorted((root / "fields" / "test" / "images").iterdir())[0], inputs / "good.png")
    field = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(inputs / "good.png").convert("RGB"))
    slide = np.tile(field, (4, 4, 1))                                # 256 x 256 of fields
    write_pyramid(inputs / "slide.ome.tif", slide.shape[:2], np.uint8, array_tiles(slide, 64), tile=64,
                  kind="image", channels=3)
    blank = np.full((256, 256, 3), 235, np.uint8)
    write_pyramid(inputs / "blank.ome.tif", (256, 256), np.uint8, array_tiles(blank, 64), tile=64,
                  kind="image", channels=3)
    shutil.copy(inputs / "slide.ome.tif", inputs / "damaged.ome.tif")
    with tifffile.TiffFile(inputs / "damaged.ome.tif") as tif:
        page = tif.pages[0]
        offset, count = page.dataoffsets[5], page.databytecounts[5]
    with open(inputs / "damaged.ome.tif", "r+b") as handle:
        handle.seek(offset + count // 2)
        handle.write(b"\xff" * 16)
    data = (inputs / "slide.ome.tif").read_bytes()
    (inputs / "cut.ome.tif").write_bytes(data[:len(data) // 2])
    summary = run_many(inputs, TiledInferenceJob(config), tmp_path / "out", workers=0, progress=False)
    failed = dict(summary.failed)
    assert {p.split("/")[-1] for p in failed} == {"damaged.ome.tif", "cut.ome.tif"}
    for message in failed.values():
        assert "\n" not in message and len(message) < 300
    assert "cannot be decoded" in failed[str(inputs / "damaged.ome.tif")]
    assert "cut.ome.tif" in failed[str(inputs / "cut.ome.tif")]
    assert sorted(p.split("/")[-1] for p in summary.done) == ["blank.ome.tif", "good.png", "slide.ome.tif"]
    with open(tmp_path / "out" / "blank" / "blank_cells.csv", newline="") as handle:
        assert list(csv.DictReader(handle)) == []                    # a slide without any cell: done, no rows
    assert summary.totals["cells"] > 0
