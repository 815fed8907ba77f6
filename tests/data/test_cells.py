"""The cells of a sample and the cells head's packed targets, on hand-drawn label masks."""

import numpy as np
import pytest
from PIL import Image

from flexunet.data.cells import (
    BITS,
    border_width,
    connected_cells,
    pack_targets,
    packed_labels,
    resize_cells,
    sample_cells,
    unpack_targets,
)
from flexunet.data.geojson import write_cells_geojson
from flexunet.data.instances import cell_from_masks
from flexunet.data.pairs import Pair


def rect(shape, top, left, bottom, right) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top:bottom, left:right] = True
    return mask


SHAPE = (7, 9)
A = cell_from_masks(1, rect(SHAPE, 1, 1, 5, 5), rect(SHAPE, 2, 2, 3, 3))     # rows 1-4, columns 1-4
B = cell_from_masks(2, rect(SHAPE, 1, 3, 5, 7), rect(SHAPE, 2, 5, 3, 6))     # rows 1-4, columns 3-6


def labels_of(cells) -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint8)
    for c in cells:
        labels[c.full(SHAPE)] = np.maximum(labels[c.full(SHAPE)], 1)
    for c in cells:
        labels[c.full(SHAPE, "nucleus")] = 2
    return labels


def test_packed_targets_of_two_overlapping_cells_by_hand():
    """A and B are 4 x 4 squares overlapping on columns 3-4. Cell: their union, 4 x 6 = 24 px; nucleus: 2 px;
    outline 1 px wide: each square's ring of 12 px (the inner 2 x 2 left out), 20 px together (rows 1 and 4,
    columns 1-6, 12 px; the sides at columns 1, 3, 4, 6 on rows 2-3, 8 px); overlap: columns 3-4, 8 px."""
    packed = pack_targets(labels_of([A, B]), [A, B], border_px=1)
    cell, nucleus, border, overlap = (packed & bit > 0 for bit in BITS)
    assert cell.sum() == 24 and nucleus.sum() == 2 and overlap.sum() == 8
    assert overlap[1:5, 3:5].all()
    expected_border = np.zeros(SHAPE, bool)
    expected_border[[1, 4], 1:7] = True
    expected_border[2:4, [1, 3, 4, 6]] = True
    np.testing.assert_array_equal(border, expected_border)
    np.testing.assert_array_equal(packed_labels(packed), labels_of([A, B]))
    targets = unpack_targets(packed[None])
    assert targets.shape == (1, 7, 9, 4) and targets.dtype == np.float32
    np.testing.assert_array_equal(targets[0, ..., 2], border)


def test_no_outline_where_a_cell_is_cut_by_the_image_edge():
    """A cell filling rows 0-2 of a 5 x 6 image, columns 0-5: cut by the top, left and right edges, so only its
    bottom row (row 2) is outline (2 px wide: rows 1-2)."""
    cell = cell_from_masks(1, rect((5, 6), 0, 0, 3, 6), rect((5, 6), 0, 2, 1, 4))
    labels = np.where(cell.full((5, 6)), 1, 0).astype(np.uint8)
    border = pack_targets(labels, [cell], border_px=2) & BITS[2] > 0
    expected = np.zeros((5, 6), bool)
    expected[1:3, :] = True
    np.testing.assert_array_equal(border, expected)


def test_connected_cells_are_the_regions_of_a_label_mask():
    labels = np.zeros((6, 10), np.uint8)
    labels[1:4, 1:4], labels[2, 2] = 1, 2
    labels[1:5, 6:9], labels[2:4, 7] = 1, 2
    a, b = connected_cells(labels)
    assert (a.id, a.box, a.cell_area, a.nucleus_area) == (1, (1, 1, 4, 4), 9, 1)
    assert (b.id, b.box, b.cell_area, b.nucleus_area) == (2, (1, 6, 5, 9), 12, 2)


def test_resize_cells_by_nearest_neighbour():
    """A 4 x 4 cell at rows 2-5, columns 2-5 of an 8 x 8 image, halved: rows and columns 1-2 of a 4 x 4 one."""
    cell = cell_from_masks(3, rect((8, 8), 2, 2, 6, 6), rect((8, 8), 2, 2, 4, 4))
    (small,) = resize_cells([cell], (8, 8), (4, 4))
    assert (small.id, small.box, small.cell_area, small.nucleus_area) == (3, (1, 1, 3, 3), 4, 1)
    assert resize_cells([cell], (8, 8), (8, 8)) == [cell]


@pytest.mark.parametrize("image, model, expected", [((512, 512), (512, 512), 2), ((1024, 1024), (512, 512), 4),
                                                    ((128, 128), (512, 512), 1)])
def test_border_width_scales_to_the_model(image, model, expected):
    assert border_width(image, model) == expected


def test_a_sample_s_cells_come_from_its_instance_file_else_its_regions(tmp_path):
    labels = labels_of([A, B])
    Image.fromarray(labels * 127).save(tmp_path / "f.png")
    write_cells_geojson(tmp_path / "f.geojson", [A, B])
    with_file = sample_cells(Pair("f", tmp_path / "f.png", tmp_path / "f.png", tmp_path / "f.geojson"), labels)
    assert [(c.id, c.cell_area) for c in with_file] == [(1, 16), (2, 16)]         # the overlap kept in each
    without = sample_cells(Pair("f", tmp_path / "f.png", tmp_path / "f.png"), labels)
    assert [(c.id, c.cell_area, c.nucleus_area) for c in without] == [(1, 24, 2)]  # touching: one region


def qupath_annotations(cells) -> dict:
    """A GeoJSON as QuPath exports annotations: separate polygons classified Cell and Nucleus, no ids."""
    def square(box):
        top, left, bottom, right = box
        return {"type": "Polygon", "coordinates": [[[left, top], [right, top], [right, bottom], [left, bottom],
                                                    [left, top]]]}

    features = []
    for cell_box, nucleus_box in cells:
        for box, name in ((cell_box, "Cell"), (nucleus_box, "Nucleus")):
            features.append({"type": "Feature", "id": f"{name}-{box}", "geometry": square(box),
                             "properties": {"objectType": "annotation",
                                            "classification": {"name": name, "color": [255, 0, 0]}}})
    return {"type": "FeatureCollection", "features": features}


def test_qupath_annotations_are_training_targets(tmp_path):
    """A QuPath GeoJSON in the masks folder is the sample's label mask and its cells: two 6 x 6 cells
    overlapping on 2 columns (rows 2-7; columns 2-7 and 6-11), nuclei 2 x 2. The cells head's targets
    carry both nuclei, the overlap (2 x 6 = 12 px) and each cell's outline."""
    import json

    from flexunet.data.dataset import MaskOptions, load_pair
    from flexunet.data.pairs import pair_files

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.full((16, 16, 3), 200, np.uint8)).save(tmp_path / "images" / "f.png")
    annotation = qupath_annotations([((2, 2, 8, 8), (4, 4, 6, 6)), ((2, 6, 8, 12), (4, 8, 6, 10))])
    (tmp_path / "masks" / "f.geojson").write_text(json.dumps(annotation))
    (pair,) = pair_files(tmp_path / "images", tmp_path / "masks", "images", "masks")
    image, packed = load_pair(pair, (16, 16), 3, MaskOptions(num_classes=3, head="cells"))
    cell, nucleus, border, overlap = (packed & bit > 0 for bit in BITS)
    assert cell.sum() == 6 * 10 and nucleus.sum() == 8 and overlap.sum() == 12 and overlap[2:8, 6:8].all()
    assert border[2, 2:12].all() and border[4, 2:4].all() and not border[4:6, 4:6].any()   # 2-px outlines
    _, labels = load_pair(pair, (16, 16), 3, MaskOptions(num_classes=3))
    assert (labels == 2).sum() == 8 and (labels == 1).sum() == 52


def test_a_cells_model_trains_on_qupath_annotations(tmp_path, write_config, tiny_model_section):
    """The whole route: QuPath GeoJSON annotations as the only masks, one epoch of the cells head."""
    import json

    from flexunet.config import load_config
    from flexunet.training.run import run_training

    rng = np.random.default_rng(0)
    for split in ("train", "valid"):
        (tmp_path / split / "images").mkdir(parents=True)
        (tmp_path / split / "masks").mkdir()
        for k in range(4):
            image = np.full((64, 64, 3), 210, np.uint8)
            top, left = (int(v) for v in rng.integers(4, 30, 2))
            image[top:top + 24, left:left + 24] = 160
            image[top + 8:top + 14, left + 8:left + 14] = 80
            Image.fromarray(image).save(tmp_path / split / "images" / f"{split}{k}.png")
            boxes = ((top, left, top + 24, left + 24), (top + 8, left + 8, top + 14, left + 14))
            annotation = qupath_annotations([boxes])
            (tmp_path / split / "masks" / f"{split}{k}.geojson").write_text(json.dumps(annotation))
    config = load_config(write_config(
        tmp_path, model=tiny_model_section(num_classes=3, head='"cells"', loss='"cells_loss"',
                                           metrics=["cells_dice_cell"]),
        train={"epochs": 1, "batch_size": 2, "validation": '"eval"', "image_datapath": f'"{tmp_path}/train/images"',
               "mask_datapath": f'"{tmp_path}/train/masks"'},
        eval={"image_datapath": f'"{tmp_path}/valid/images"', "mask_datapath": f'"{tmp_path}/valid/masks"'}))
    record = run_training(config, verbose=0)
    assert record.cells is not None and record.run.epochs_run == 1
