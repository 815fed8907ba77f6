"""Training speed side by side with the seed itself: the same config and cells, epoch by epoch.

python -m bench.train [--quick] [--repeats 2] [--cells 60] [--epochs 3] [--variant SECTION.KEY=VALUE ...]

The seed's own trainer (../shared/reference/seed-code, run with its TensorFlow 2.15 virtual environment,
SEED_PYTHON, default ~/.venv-seed/bin/python) and this toolkit's 1.train (TensorflowUNetTrainer.py)
train the seed's train_eval_infer.config on the same copy of `--cells` source cells of the real
data, one after the other, `--repeats` times interleaved. An epoch's time is the wall time between
two successive epoch-end progress lines (so it holds everything an epoch does: steps, validation,
checkpoints, curves); the first epoch (tracing) is left out. Each --variant adds a toolkit run with
that key changed (e.g. train.deterministic=False), to see where time goes.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import (
    REAL_DATA,
    ROOT,
    SCRATCH,
    SEED_CODE,
    SEED_CONFIG,
    add_overrides,
    parser,
    summary,
    write_result,
)
from flexunet.config.edit import write_variant
from flexunet.data.pairs import pair_files, source_cell_id

SEED_PYTHON = Path(os.environ.get("SEED_PYTHON", Path.home() / ".venv-seed" / "bin" / "python"))
EPOCH_LINE = re.compile(r"^\s*(\d+)/(\d+) .*?(\d+)m?s/step")


def cell_copy(cells: int) -> Path:
    """images/ and masks/ holding every copy of the first `cells` source cells (sorted), as symlinks."""
    folder = SCRATCH / f"train_cells_{cells}"
    if (folder / "complete").exists():
        return folder
    pairs = pair_files(REAL_DATA / "images", REAL_DATA / "masks", "images", "masks")
    keep = set(sorted({source_cell_id(p.image.name) for p in pairs})[:cells])
    for p in pairs:
        if source_cell_id(p.image.name) in keep:
            for kind, src in (("images", p.image), ("masks", p.mask)):
                (folder / kind).mkdir(parents=True, exist_ok=True)
                link = folder / kind / src.name
                if not link.exists():
                    link.symlink_to(src.resolve())
    (folder / "complete").touch()
    return folder


def project(name: str, data: Path, epochs: int, overrides: list[str] = ()) -> Path:
    """A fresh folder with the seed's config pointed at `data`, `epochs` epochs, and the overrides."""
    folder = SCRATCH / "runs" / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    keys = {"train": {"epochs": str(epochs), "image_datapath": f'"{data / "images"}"',
                      "mask_datapath": f'"{data / "masks"}"', "create_backup": "False"}}
    add_overrides(keys, overrides)
    write_variant(SEED_CONFIG, folder / "train_eval_infer.config", keys, "the seed's config, benchmark copy")
    return folder


def epoch_seconds(command: list[str], cwd: Path) -> dict:
    """Run a trainer; the wall time between successive epoch-end lines (epoch 1, with tracing, left out)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = time.perf_counter()
    stamps, tail = [], []
    with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as proc:
        for line in proc.stdout:
            tail = (tail + [line])[-40:]
            match = EPOCH_LINE.match(line.split("\r")[-1])
            if match and match[1] == match[2]:
                stamps.append((time.perf_counter(), int(match[2])))
    if proc.returncode != 0 or len(stamps) < 2:
        raise RuntimeError(f"{' '.join(map(str, command))} in {cwd}: exit {proc.returncode}, "
                           f"{len(stamps)} epoch lines\n{''.join(tail)}")
    epochs = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])]
    return {"epoch_seconds": epochs, "steps": stamps[-1][1], "wall_seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    args_parser = parser(__doc__.splitlines()[0], repeats=2)
    args_parser.add_argument("--cells", type=int, default=60)
    args_parser.add_argument("--epochs", type=int, default=3)
    args_parser.add_argument("--variant", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = args_parser.parse_args(argv)
    if not (REAL_DATA / "images").is_dir() or not SEED_CONFIG.is_file():
        print(f"error: needs the real data ({REAL_DATA}) and the seed's config ({SEED_CONFIG})", file=sys.stderr)
        return 1
    cells, epochs = (4, 2) if args.quick else (args.cells, args.epochs)
    data = cell_copy(cells)
    quick = ["model.num_layers=3", "model.base_filters=4", "model.image_width=64", "model.image_height=64"]
    runs = {"toolkit": [*quick] if args.quick else []}
    runs.update({f"toolkit {v}": ([*quick] if args.quick else []) + [v] for v in args.variant})
    commands = {name: [sys.executable, str(ROOT / "TensorflowUNetTrainer.py"), "./train_eval_infer.config"]
                for name in runs}
    if SEED_PYTHON.exists() and (SEED_CODE / "TensorflowUNetTrainer.py").is_file():
        runs = {"seed": quick if args.quick else [], **runs}
        commands["seed"] = [str(SEED_PYTHON), str(SEED_CODE / "TensorflowUNetTrainer.py"), "./train_eval_infer.config"]
        skipped = None
    else:
        skipped = f"the seed's environment {SEED_PYTHON} or its code {SEED_CODE} is absent"
        print(f"note: {skipped}; timing the toolkit alone")
    measured: dict[str, list[dict]] = {name: [] for name in runs}
    for repeat in range(args.repeats):
        for name, overrides in runs.items():
            folder = project(name.replace(" ", "_").replace("=", "-"), data, epochs, overrides)
            result = epoch_seconds(commands[name], folder)
            measured[name].append(result)
            epochs_s = [round(s, 1) for s in result['epoch_seconds']]
            print(f"repeat {repeat + 1} {name}: epochs after the first {epochs_s} s "
                  f"({result['steps']} steps)", flush=True)
    seconds = {name: summary([s for r in results for s in r["epoch_seconds"]]) for name, results in measured.items()}
    speed = {name: seconds["seed"]["median"] / s["median"] for name, s in seconds.items() if "seed" in seconds}
    for name, s in seconds.items():
        versus = f"  speed vs seed {speed[name]:.3f}x" if speed else ""
        print(f"{name:40s} median epoch {s['median']:6.1f} s{versus}")
    write_result("train", args, {"cells": cells, "epochs": epochs, "repeats": args.repeats, "variants": args.variant,
                                 "config": str(SEED_CONFIG), "seed_python": str(SEED_PYTHON), "seed_skipped": skipped},
                 {"epoch_seconds": seconds, "speed_vs_seed": speed, "runs": measured,
                  "target": "toolkit speed vs seed >= 0.95 (median epoch time, epochs after the first)"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
