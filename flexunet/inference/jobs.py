"""The per-worker job of runs over many images or slides: tiled inference of one input into its own folder."""

import csv
from pathlib import Path

from flexunet.inference.outputs import CELLS_CSV


class TiledInferenceJob:
    """One image or slide through a config's trained model ([tiledinfer] settings, slides streamed). Only the
    config's path travels to the workers; setup() loads the config and the model once per worker process."""

    def __init__(self, config_path: str | Path):
        self.config_path = str(Path(config_path).resolve())
        self._run = None

    def __repr__(self) -> str:
        return f"TiledInferenceJob({self.config_path!r})"

    def __getstate__(self) -> dict:
        return {"config_path": self.config_path}

    def __setstate__(self, state: dict) -> None:
        self.config_path, self._run = state["config_path"], None

    def key(self, item: Path) -> str:
        """The output folder of an input: its name up to the first dot (slide.ome.tif -> slide)."""
        return Path(item).name.split(".")[0]

    def setup(self) -> None:
        from flexunet.config import load_config
        from flexunet.inference.tiled import tiled_run

        self._run = tiled_run(load_config(self.config_path))

    def run(self, item: Path, out_dir: Path) -> dict:
        """Segment `item` into out_dir; {"images": 1, "cells": cells found, "tiles": tiles predicted (slides)}."""
        from flexunet.inference.tiled import infer_files

        if self._run is None:
            self.setup()
        _, summaries = infer_files(self._run, [Path(item)], Path(out_dir))
        if summaries:
            return {"images": 1, "cells": sum(s.cells for s in summaries), "tiles": sum(s.tiles for s in summaries)}
        with open(Path(out_dir) / CELLS_CSV, newline="") as handle:
            return {"images": 1, "cells": sum(1 for _ in csv.DictReader(handle)), "tiles": 0}
