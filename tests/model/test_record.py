"""model_info.json's cells rule: written and read back whole; records from before a field take its default."""

from flexunet.model.record import CellRule, ModelRecord


def test_the_cells_rule_round_trips_with_its_split_ring_and_scores():
    rule = CellRule(cell_threshold=0.75, nucleus_threshold=0.95, overlap_threshold=0.65, min_nucleus_px=12,
                    fill_holes=False, nucleus_ring_px=8, cell_split="distance",
                    validation=(("cell_aji", 0.82), ("cell_aji_outline_split", 0.75)))
    record = ModelRecord(threshold=0.4, cells=rule)
    assert ModelRecord.from_dict(record.to_dict()).cells == rule


def test_a_record_written_before_the_ring_and_split_were_chosen_reads_their_defaults():
    old = ModelRecord(cells=CellRule()).to_dict()
    del old["cells"]["cell_split"], old["cells"]["nucleus_ring_px"]
    cells = ModelRecord.from_dict(old).cells
    assert (cells.cell_split, cells.nucleus_ring_px) == ("outline", 4)
