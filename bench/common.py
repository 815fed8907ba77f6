"""Shared parts of the benchmarks: one parser, machine facts, interleaved repeats, data, result files.

Every benchmark runs from the repository root as `python -m bench.<name>` (bench is a package, so
nothing edits sys.path) and writes one JSON, bench/results/<name>.json (<name>_quick.json with --quick),
with its provenance (flexunet/provenance.py: commit, command, time, versions, CPU).
"""

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from flexunet.provenance import Provenance, write_result_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SHARED = ROOT.parent / "shared"
REAL_DATA = SHARED / "data" / "Pap-Smear-master" / "severe_dysplastic"
SEED_CODE = SHARED / "reference" / "seed-code"
SEED_CONFIG = SHARED / "reference" / "seed-Pap-Smear" / "train_eval_infer.config"
SCRATCH = Path(os.environ.get("FLEXUNET_BENCH_DATA", "/tmp/flexunet_bench"))


def parser(description: str, repeats: int = 3) -> argparse.ArgumentParser:
    """--quick (a smoke test in seconds), --repeats, --out; the run's provenance is taken now, at its start."""
    parsed = argparse.ArgumentParser(description=description)
    parsed.add_argument("--quick", action="store_true", help="tiny sizes: checks the script, measures nothing")
    parsed.add_argument("--repeats", type=int, default=repeats, help=f"interleaved repeats (default {repeats})")
    parsed.add_argument("--out", type=Path, default=None, help="JSON file (default bench/results/<name>.json)")
    parsed.set_defaults(provenance=Provenance.collect())
    return parsed


def add_overrides(keys: dict[str, dict[str, str]], overrides: list[str] | tuple[str, ...]) -> dict:
    """`keys` (section -> key -> INI value) with each "SECTION.KEY=VALUE" of `overrides` set on top."""
    for item in overrides:
        target, _, value = item.partition("=")
        section, _, key_name = target.partition(".")
        keys.setdefault(section, {})[key_name] = value
    return keys


def machine() -> dict:
    """What the provenance record leaves out: platform, CPU count and flags, load average."""
    info = {"platform": platform.platform(), "cpu_count": os.cpu_count(),
            "load_average": [round(v, 2) for v in os.getloadavg()]}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                info["cpu_flags"] = sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "fma"})
                break
    except OSError:
        pass
    return info


def summary(values: list[float]) -> dict:
    """min / median / max of the repeats, and the repeats themselves."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "runs": list(values)}


def interleaved(works: dict[str, Callable[[], float]], repeats: int) -> dict[str, dict]:
    """Each work() once per repeat, round robin, so load drift hits all alike; a summary per work."""
    runs: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(repeats):
        for name, work in works.items():
            runs[name].append(float(work()))
    return {name: summary(values) for name, values in runs.items()}


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def write_result(name: str, args: argparse.Namespace, settings: dict, results: dict) -> Path:
    """bench/results/<name>[_quick].json (or --out), written atomically: the provenance (taken when the
    parser was made), the machine, the settings and the results."""
    path = args.out or RESULTS / (f"{name}_quick.json" if args.quick else f"{name}.json")
    provenance = getattr(args, "provenance", None) or Provenance.collect()
    data = {"benchmark": name, "machine": machine(), "settings": settings, "quick": args.quick, **results}
    write_result_json(path, data, provenance)
    print(f"wrote {path}")
    return path


def synthetic_images(count: int, sizes: list[tuple[int, int]], seed: int = 1) -> Path:
    """A folder of `count` jpg images (discs on noise) cycling through sizes (width, height); made once."""
    folder = SCRATCH / f"images_{count}_{'_'.join(f'{w}x{h}' for w, h in sizes)}"
    if (folder / "complete").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        w, h = sizes[i % len(sizes)]
        image = np.clip(rng.normal((190, 170, 200), 12, (h, w, 3)), 0, 255).astype(np.uint8)
        for _ in range(int(rng.integers(1, 3))):
            centre = tuple(int(v) for v in rng.integers(min(w, h) // 5, 4 * min(w, h) // 5, 2))
            colour = tuple(int(v) for v in rng.integers(40, 120, 3))
            cv2.circle(image, centre, int(rng.integers(min(w, h) // 12, min(w, h) // 5)), colour, -1)
        cv2.imwrite(str(folder / f"img{i:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    (folder / "complete").touch()
    return folder


def write_ini(path: Path, sections: dict[str, dict]) -> Path:
    """An INI config from {section: {key: value}}: strings and paths quoted, other values as repr()."""
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(str(v)) if isinstance(v, (str, Path)) else repr(v)}" for k, v in values.items()]
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def seed_model_section(**overrides) -> dict:
    """The seed's [model] (its train_eval_infer.config), e.g. for a randomly initialised seed-sized model."""
    section = {"image_width": 128, "image_height": 128, "image_channels": 3, "num_classes": 1,
               "base_filters": 16, "base_kernels": (3, 3), "num_layers": 7, "dropout_rate": 0.07,
               "learning_rate": 1e-4, "clipvalue": 0.5, "dilation": (1, 1), "loss": "bce_iou_loss",
               "metrics": ["iou_coef"]}
    section.update(overrides)
    return section
