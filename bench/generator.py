"""Generator speed: raw Herlev cells to 13 image/mask copies each, written to disk, ms per cell.

python -m bench.generator [--quick] [--repeats 3] [--cells 40]
Synthetic raw cells (NAME.BMP + palette NAME-d.bmp) of 60 to 300 px, the shipped generator settings
(resize 312, crop 128). The seed's generator is not in ../shared/reference/seed-code, so there is no
side-by-side figure: this is the toolkit's own time.
"""

import shutil
import sys

from bench.common import SCRATCH, interleaved, parser, write_result
from flexunet.generators.dataset_generator import generate
from flexunet.generators.synthetic import write_raw_dataset


def main(argv: list[str] | None = None) -> int:
    args_parser = parser(__doc__.splitlines()[0])
    args_parser.add_argument("--cells", type=int, default=40)
    args = args_parser.parse_args(argv)
    cells = 4 if args.quick else args.cells
    raw = SCRATCH / f"raw_cells_{cells}"
    if not raw.is_dir():
        write_raw_dataset(raw, {"severe_dysplastic": cells}, seed=0)
    out = SCRATCH / "generated"

    def run() -> float:
        shutil.rmtree(out, ignore_errors=True)
        return generate(raw, out, 312, 128, progress=False)["seconds_per_cell"]

    stats = interleaved({"generate": run}, args.repeats)["generate"]
    per_cell = {k: 1000 * v for k, v in stats.items() if k != "runs"} | {"runs": [1000 * v for v in stats["runs"]]}
    print(f"{per_cell['median']:.2f} ms per raw cell (13 copies, images and masks written)")
    write_result("generator", args, {"cells": cells, "resize": 312, "cropsize": 128}, {"ms_per_cell": per_cell})
    return 0


if __name__ == "__main__":
    sys.exit(main())
