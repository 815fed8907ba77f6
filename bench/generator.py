"""Generator speed: raw Herlev cells to 13 image/mask copies each, written to disk, ms per cell; and the
time to draw one synthetic raw cell (flexunet.generators.synthetic.draw_cell), ms per cell.

python -m bench.generator [--quick] [--repeats 3] [--cells 40] [--draws 30]
Synthetic raw cells (NAME.BMP + palette NAME-d.bmp) of 60 to 300 px, the shipped generator settings
(resize 312, crop 128). The seed's generator is not in ../shared/reference/seed-code, so there is no
side-by-side figure: this is the toolkit's own time.
"""

import shutil
import sys

import numpy as np

from bench.common import SCRATCH, interleaved, parser, timed, write_result
from flexunet.generators.dataset_generator import generate
from flexunet.generators.synthetic import draw_cell, write_raw_dataset


def in_ms(stats: dict) -> dict:
    return {k: 1000 * v for k, v in stats.items() if k != "runs"} | {"runs": [1000 * v for v in stats["runs"]]}


def main(argv: list[str] | None = None) -> int:
    args_parser = parser(__doc__.splitlines()[0])
    args_parser.add_argument("--cells", type=int, default=40)
    args_parser.add_argument("--draws", type=int, default=30, help="cells drawn per repeat (seeds 0 ..)")
    args = args_parser.parse_args(argv)
    cells, draws = (4, 5) if args.quick else (args.cells, args.draws)
    raw = SCRATCH / f"raw_cells_{cells}"
    if not raw.is_dir():
        write_raw_dataset(raw, {"severe_dysplastic": cells}, seed=0)
    out = SCRATCH / "generated"

    def run() -> float:
        shutil.rmtree(out, ignore_errors=True)
        return generate(raw, out, 312, 128, progress=False)["seconds_per_cell"]

    def draw() -> float:
        return timed(lambda: [draw_cell(np.random.default_rng(i)) for i in range(draws)]) / draws

    stats = interleaved({"generate": run, "draw_cell": draw}, args.repeats)
    per_cell, per_draw = in_ms(stats["generate"]), in_ms(stats["draw_cell"])
    print(f"{per_cell['median']:.2f} ms per raw cell (13 copies, images and masks written); "
          f"{per_draw['median']:.2f} ms to draw one synthetic raw cell")
    write_result("generator", args, {"cells": cells, "resize": 312, "cropsize": 128, "draws": draws},
                 {"ms_per_cell": per_cell, "ms_per_draw_cell": per_draw})
    return 0


if __name__ == "__main__":
    sys.exit(main())
