"""The README's cell-by-cell table from a hand-built bench/results/cells.json: the rows, the split the
validation chose, the targets met and missed, and the nucleus gap to the nucleus-only config."""

import json

from bench.cells_report import cells_table
from flexunet.model.record import CellRule, ModelRecord


def scores(cell_dice: float, fno: float, nc: float) -> dict:
    return {"cell_dice": cell_dice, "cell_fno": fno, "aji_cell": 0.8, "nucleus_dice": 0.95, "pred_nuclei": 21,
            "truth_nuclei": 20, "nucleus_precision": 0.95, "nucleus_recall": 1.0,
            "nc_ratio_median_relative_error": nc, "nuclei_ratio": 1.05}


def write(tmp_path, split: str) -> None:
    cells = {"training": ModelRecord(cells=CellRule(cell_split=split)).to_dict(),
             "pixel": {"pixel_dice_nucleus": 0.975}, "cells": scores(0.91, 0.05, 0.12),
             "outline_split": scores(0.89, 0.2, 0.15), "distance_split": scores(0.91, 0.05, 0.12)}
    data = {"provenance": {"command": "python -m bench.cells --seed 7"},
            "settings": {"size": 64, "seed": 7, "fields": {"counts": {"train": 4, "valid": 2, "test": 2}, "cells": 20,
                                                         "fields_with_overlaps": 3}},
            "models": {"cells": cells, "binary": {"pixel": {"pixel_dice": 0.98}}}}
    (tmp_path / "cells.json").write_text(json.dumps(data))


def test_the_table_names_the_split_validation_chose_and_every_row_measured(tmp_path):
    write(tmp_path, "distance")
    table = cells_table(tmp_path)
    rows = [line for line in table.splitlines() if line.startswith("| ")][2:]
    assert rows[0].startswith("| shipped `all_classes_train_eval_infer.config` (cells head): cells split as "
                              "validation chose (by distance from their nuclei) | 0.910 (0.050) | 0.800 |")
    assert rows[0].endswith("| 12.0 % | 0.975 |")
    assert rows[1].startswith("| the same model, cells parted at their outlines, overlaps given to both | "
                              "0.890 (0.200)")
    assert rows[1].endswith("| (same) |")
    assert rows[2].startswith("| the same model, cells split by distance")  # no row without overlaps measured
    assert rows[3] == "| shipped `cpu_train_eval_infer.config` (nucleus only) | | | | | | | 0.980 |"
    assert "Targets met: cell_dice ≥ 0.9, cell_fno ≤ 0.1, nucleus_dice ≥ 0.92, nuclei_ratio ≤ 1.05." in table
    assert "**Not met: nc_ratio_median_relative_error ≤ 0.1 (got 0.120).**" in table
    assert "nucleus pixel Dice is -0.005 from the nucleus-only config's, within 0.01." in table


def test_the_outline_split_reads_as_such(tmp_path):
    write(tmp_path, "outline")
    assert "cells split as validation chose (at their outlines, overlaps given to both) |" in cells_table(tmp_path)


def test_nothing_measured_yet(tmp_path):
    assert cells_table(tmp_path) == "(not measured yet: python -m bench.cells)"
