"""Whole slides: synthetic slides drawn from fields of view, streamed by 4.tiled_infer with a trained cells model:
peak memory at two sizes, time per tile against a bare predict of the same tiles, and the cells found against the
cells drawn, on window seams and away from them.

python -m bench.slide [--quick] [--sizes 10000 30000] [--model CONFIG]

--model names a config whose model_dir holds a trained cells-head model at the fields' scale (default: the one
bench.cells trains on its seed's fields). Each slide (RGB, tiled pyramidal OME-TIFF, 20 % of its 512-px fields
left blank) is segmented by `TensorflowUNetTiledInferencer.py` in a process of its own (peak RSS from
`/usr/bin/time -v`), with window cores of 2,000 px ([slide] window_px; the default, 2,048, is a multiple of the
fields, so no drawn cell would lie on a seam) and TTA off ([postprocess] tta = False: four times the predict time
otherwise). The bare predict is the same model's predict of 256 of the slide's tiles at the same batch size, in
this process, after the slide runs: the faster of `model.predict` and a loop of `model.predict_on_batch` (best of
two interleaved rounds each).
"""

import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.cells import SEED
from bench.common import ROOT, SCRATCH, interleaved, parser, timed, write_result
from flexunet.config import load_config
from flexunet.config.edit import write_variant
from flexunet.generators.fields import rgb_field
from flexunet.generators.slides import read_truth, truth_path, write_synthetic_slide

DEFAULT_MODEL = SCRATCH / f"cells_512_seed{SEED}" / "run" / "cells" / "train_eval_infer.config"
FIELD = 512
MATCH_PX = 6  # a drawn nucleus is found when a kept cell's nucleus centroid lies this close
FLOOR = "read, predict and blend windows (no cells)"
WINDOW = 2000  # window cores not a multiple of the 512-px fields, so that seams cut through cells


def slide_config(model_config: Path, folder: Path, slides: Path, quick: bool) -> Path:
    """The trained model's config reading `slides` with 4.tiled_infer, TTA off, outputs in `folder`."""
    keys = {"tiledinfer": {"images_dir": f'"{slides}"', "output_dir": f'"{folder / "out"}"', "overlapping": "32"},
            "postprocess": {"tta": "False"}, "infer": {"pixel_size_um": "None"}}
    keys["slide"] = {"window_px": "200", "halo_px": "64"} if quick else {"window_px": str(WINDOW)}
    return write_variant(model_config, folder / "train_eval_infer.config", keys)


def run_tiled_infer(config: Path) -> tuple[float, float]:
    """(peak RSS in GB, wall seconds) of 4.tiled_infer on the config, in a process of its own."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", sys.executable, str(ROOT / "TensorflowUNetTiledInferencer.py"),
                           str(config)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"4.tiled_infer failed: {done.stderr[-2000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    return peak_kb / 1024 ** 2, seconds


def bare_seconds_per_tile(config: Path, slide: Path, count: int, windows: int) -> dict[str, float]:
    """Seconds per tile of `model.predict` and of a `model.predict_on_batch` loop on `count` tiles read from the
    slide (centre rows), at the batch size tiled inference predicts with; and (FLOOR) of reading `windows`
    windows of the slide's centre band and predicting and blending their tiles as 4.tiled_infer does, without
    cells: what the job costs before its cells. The best of two interleaved rounds each."""
    from flexunet.data.slides import open_slide
    from flexunet.inference.tiled import tiled_run
    from flexunet.inference.tiling import predict_tiled_many, tile_boxes
    from flexunet.model.store import load_trained

    c = load_config(config)
    trained = load_trained(c)
    run = tiled_run(c, trained)
    tile, batch, size = run.tile, run.batch_size, c.slide.window_px + 2 * c.slide.halo_px
    with open_slide(slide) as s:
        height, width = s.levels[0]
        top = height // 2 - tile
        tiles = np.stack([s.read(0, top + (k // 32) * tile % (height - tile), (k % 32) * tile % (width - tile),
                                 tile, tile) for k in range(count)]).astype(np.float32)
        boxes = [(max(height // 2 - size // 2, 0), min(k * size, max(width - size, 0))) for k in range(windows)]
        boxes = [(y, x, min(size, height - y), min(size, width - x)) for y, x in boxes]

        def read_predict_blend() -> None:
            for _ in predict_tiled_many((s.read(0, *box) for box in boxes), run.predict, tile, run.overlap, batch):
                pass

        ways = {"model.predict": (lambda: trained.model.predict(tiles, batch_size=batch, verbose=0), count),
                "model.predict_on_batch": (lambda: [run.predict(tiles[i:i + batch]) for i in range(0, count, batch)],
                                           count),
                FLOOR: (read_predict_blend, sum(len(tile_boxes(box[2:], tile, run.overlap)) for box in boxes))}
        trained.model.predict(tiles[:batch], batch_size=batch, verbose=0)
        run.predict(tiles[:batch])
        stats = interleaved({name: (lambda way=way: timed(way[0])) for name, way in ways.items()}, repeats=2)
    return {name: stats[name]["min"] / ways[name][1] for name in ways}


def seams(box, window: int) -> bool:
    """Whether a box (top, left, bottom, right) crosses a window core's edge."""
    return any((box[k] // window) != ((box[k + 2] - 1) // window) for k in (0, 1))


def match_cells(truth, found_csv: Path, window: int) -> dict:
    """Drawn cells found once, missed, found more than once (split or duplicated), on seams and away from
    them; kept cells matching no drawn cell (spurious)."""
    with open(found_csv, newline="") as handle:
        centres = np.array([[float(r["centroid_y"]), float(r["centroid_x"])] for r in csv.DictReader(handle)])
    drawn = [c for c in truth.cells if c.nucleus_centroid is not None]
    kinds = ("drawn", "found_once", "missed", "more_than_once")
    counts = {f"{where}_{k}": 0 for where in ("seam", "away") for k in kinds}
    used = np.zeros(len(centres), bool)
    for cell in drawn:
        where = "seam" if seams(cell.box, window) else "away"
        counts[f"{where}_drawn"] += 1
        near = np.flatnonzero(np.hypot(*(centres - np.array(cell.nucleus_centroid)).T) <= MATCH_PX) \
            if len(centres) else np.array([], int)
        used[near] = True
        counts[f"{where}_{'missed' if len(near) == 0 else 'found_once' if len(near) == 1 else 'more_than_once'}"] += 1
    counts["spurious"] = int((~used).sum())
    counts["kept"] = len(centres)
    return counts


def main(argv: list[str] | None = None) -> int:
    args_parser = parser(__doc__.splitlines()[0], repeats=1)
    args_parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 30000])
    args_parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args_parser.add_argument("--seed", type=int, default=11)
    args = args_parser.parse_args(argv)
    sizes = [1024, 2048] if args.quick else args.sizes
    if not args.model.is_file():
        print(f"error: --model {args.model}: no trained config (run python -m bench.cells first)", file=sys.stderr)
        return 1
    runs = {}
    for size in sizes:
        folder = SCRATCH / f"slide_{size}"
        slides = folder / "slides"
        path = slides / f"slide_{size}.ome.tif"
        if not truth_path(path).is_file():
            slides.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            write_synthetic_slide(path, size, FIELD, args.seed, rgb_field, blank_fraction=0.2, tile=512)
            print(f"drew a {size} x {size} slide in {time.perf_counter() - started:.0f} s", flush=True)
        config = slide_config(args.model, folder, slides, args.quick)
        peak_gb, wall = run_tiled_infer(config)
        summary = json.loads((folder / "out" / f"slide_{size}_slide.json").read_text())
        window = load_config(config).slide.window_px
        cells = match_cells(read_truth(truth_path(path)), folder / "out" / f"slide_{size}_cells.csv", window)
        runs[str(size)] = {"peak_rss_gb": peak_gb, "wall_seconds": wall, "summary": summary, "cells": cells,
                           "seconds_per_tile": summary["seconds"] / max(summary["tiles"], 1),
                           "predict_seconds_per_tile": summary["predict_seconds"] / max(summary["tiles"], 1),
                           "file_gb": path.stat().st_size / 1024 ** 3}
        print(f"{size}: peak RSS {peak_gb:.2f} GB, {summary['tiles']} tiles in {summary['seconds']:.0f} s, {cells}",
              flush=True)
    largest = str(max(sizes))
    ways = bare_seconds_per_tile(slide_config(args.model, SCRATCH / f"slide_{largest}", SCRATCH / f"slide_{largest}" /
                                              "slides", args.quick),
                                 SCRATCH / f"slide_{largest}" / "slides" / f"slide_{largest}.ome.tif",
                                 32 if args.quick else 256, 2 if args.quick else 6)
    floor = ways.pop(FLOOR)
    bare_ways, bare = ways, min(ways.values())
    result = {"runs": runs, "bare_predict_seconds_per_tile": bare, "bare_predict_ways_seconds_per_tile": bare_ways,
              "floor_seconds_per_tile": floor, "floor_over_bare": floor / bare,
              "time_per_tile_over_bare": runs[largest]["seconds_per_tile"] / bare,
              "prediction_per_tile_over_bare": runs[largest]["predict_seconds_per_tile"] / bare,
              "peak_largest_over_smallest": runs[largest]["peak_rss_gb"] / runs[str(min(sizes))]["peak_rss_gb"],
              "targets": {"peak_rss_gb": "<= 2.5 at 30,000 and within 1.2x of 10,000",
                          "time_per_tile_over_bare": "<= 1.15 (the whole 4.tiled_infer job, cells and outputs "
                                                     "included)",
                          "prediction_per_tile_over_bare": "the thread reading, predicting and blending the tiles",
                          "floor_over_bare": "reading, predicting and blending windows alone, without cells: what "
                                             "the job costs before its cells",
                          "cells": "found equally on seams and away, "
                                                                         "none more than once"}}
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))
    settings = {"sizes": sizes, "field": FIELD, "window_px": WINDOW, "seed": args.seed, "model": str(args.model)}
    write_result("slide", args, settings, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
