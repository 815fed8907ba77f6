"""Shared pieces of the CPU benchmarks: machine facts, repeats, synthetic data, models, child processes."""

import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
DATA_ROOT = Path(os.environ.get("FLEXUNET_BENCH_DATA", "/tmp/flexunet_bench_data"))

# The seed's [model] (train_eval_infer.config of the seed project) and [mask].
SEED_MODEL = {"image_width": 128, "image_height": 128, "image_channels": 3, "num_classes": 1,
              "base_filters": 16, "base_kernels": (3, 3), "num_layers": 7, "dropout_rate": 0.07,
              "learning_rate": 1e-4, "clipvalue": 0.5, "dilation": (1, 1), "loss": "bce_iou_loss",
              "metrics": ["iou_coef"]}
SEED_MASK = {"blur": True, "binarize": True, "threshold": 60}
# (base_filters, num_layers) of the configs compared; everything else as the seed.
CONFIGS = {"seed": (16, 7), "f16_l6": (16, 6), "f16_l5": (16, 5), "f12_l5": (12, 5), "f8_l6": (8, 6),
           "f8_l5": (8, 5), "f8_l4": (8, 4)}
FULL_CONFIGS = ("seed", "f16_l6", "f16_l5", "f12_l5", "f8_l6", "f8_l5", "f8_l4")


def model_section(name: str, **overrides) -> dict:
    """The [model] keys of config `name` (seed settings with its filters and levels)."""
    filters, levels = CONFIGS[name]
    return {**SEED_MODEL, "base_filters": filters, "num_layers": levels, **overrides}


def build_model(name: str, mixed_precision: bool = False, jit_compile: bool | None = None):
    """Config `name` built by create_unet and compiled by compile_unet with the seed's settings."""
    import keras

    from flexunet.model.compile import compile_unet
    from flexunet.model.unet import create_unet

    m = model_section(name)
    keras.utils.set_random_seed(137)
    model = create_unet((m["image_height"], m["image_width"]), m["image_channels"], m["num_classes"],
                        m["base_filters"], m["num_layers"], m["base_kernels"][0], m["dilation"][0],
                        m["dropout_rate"], False, mixed_precision)
    return compile_unet(model, m["loss"], tuple(m["metrics"]), "adam", m["learning_rate"], m["clipvalue"],
                        jit_compile)


def machine() -> dict:
    """CPU model, cores, RAM, load and platform of this machine."""
    info = {"platform": platform.platform(), "cpu_model": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "load_average": [round(v, 2) for v in os.getloadavg()]}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                info["cpu_flags"] = sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "fma"})
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def versions() -> dict:
    """Package versions (read from metadata, so nothing heavy is imported) and the Keras backend."""
    out = {"python": platform.python_version(),
           "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow")}
    for name in ("tensorflow", "keras", "jax", "numpy", "opencv-python-headless", "opencv-python", "pillow"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def header(settings: dict) -> dict:
    return {"machine": machine(), "versions": versions(), "settings": settings,
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}


def summary(values: list[float]) -> dict:
    """min / median / max of the repeats, and the repeats themselves."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "runs": list(values)}


def interleaved(works: dict[str, Callable[[], float]], repeats: int) -> dict[str, dict]:
    """Run each work() once per repeat, round robin, so load drift hits all alike; summary per work."""
    runs: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(repeats):
        for name, work in works.items():
            runs[name].append(float(work()))
    return {name: summary(values) for name, values in runs.items()}


def inverse(stats: dict, scale: float = 1.0) -> dict:
    """scale / x of a summary (e.g. seconds per image -> images per second); min and max swap."""
    return summary([scale / v for v in stats["runs"]])


def ratio(a: dict, b: dict) -> float:
    """Ratio of medians a / b."""
    return a["median"] / b["median"]


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def set_threads(threads: int | None) -> None:
    """Intra- and inter-op threads of TensorFlow (call before any TF op); None keeps the defaults."""
    if not threads or os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def peak_rss_mib() -> float:
    """This process's peak resident set size (VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _disc_pair(rng: np.random.Generator, textures: list[np.ndarray], size: int):
    image = textures[int(rng.integers(len(textures)))].copy()
    mask = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(1, 3))):
        centre = tuple(int(v) for v in rng.integers(size // 5, 4 * size // 5, 2))
        radius = int(rng.integers(size // 12, size // 5))
        colour = tuple(int(v) for v in rng.integers(40, 120, 3))
        cv2.circle(image, centre, radius, colour, -1, lineType=cv2.LINE_AA)
        cv2.circle(mask, centre, radius, 255, -1)
    return image, mask


def synthetic_pairs(count: int, size: int = 128, seed: int = 0) -> Path:
    """A folder with images/ and masks/ of `count` jpg pairs (discs on noise); made once, then reused."""
    folder = DATA_ROOT / f"pairs_{size}_{count}"
    marker = folder / "complete.json"
    if marker.exists():
        return folder
    rng = np.random.default_rng(seed)
    textures = [np.clip(rng.normal((190, 170, 200), 12, (size, size, 3)), 0, 255).astype(np.uint8)
                for _ in range(32)]
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image, mask = _disc_pair(rng, textures, size)
        cv2.imwrite(str(folder / "images" / f"cell{i:06d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(folder / "masks" / f"cell{i:06d}.jpg"), mask, [cv2.IMWRITE_JPEG_QUALITY, 95])
    marker.write_text(json.dumps({"count": count, "size": size, "seed": seed}))
    return folder


def synthetic_images(count: int, sizes: list[tuple[int, int]], seed: int = 1) -> Path:
    """A folder of `count` jpg images cycling through sizes (width, height); made once, then reused."""
    tag = "_".join(f"{w}x{h}" for w, h in sizes)
    folder = DATA_ROOT / f"images_{count}_{tag}"
    marker = folder / "complete.json"
    if marker.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        w, h = sizes[i % len(sizes)]
        textures = [np.clip(rng.normal((190, 170, 200), 12, (h, w, 3)), 0, 255).astype(np.uint8)]
        image, _ = _disc_pair(rng, textures, min(w, h))
        cv2.imwrite(str(folder / f"img{i:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    marker.write_text(json.dumps({"count": count, "sizes": sizes, "seed": seed}))
    return folder


def write_config(path: Path, sections: dict[str, dict]) -> Path:
    """An INI config file; strings are quoted, other values written with repr()."""
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(str(v)) if isinstance(v, (str, Path)) else repr(v)}"
                  for k, v in values.items()]
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def child_env(**extra: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.update(extra)
    return env


def run_child(script: Path, args: list[str], timeout: float = 3600, **env: str) -> dict:
    """Run `python script args --out TMP` in a fresh process; its JSON, plus its wall time."""
    with tempfile.TemporaryDirectory(prefix="flexunet_bench_") as tmp:
        out = Path(tmp) / "child.json"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(script), *args, "--out", str(out)], env=child_env(**env),
                              capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - started
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"{script.name} {' '.join(args)} failed ({done.returncode}):\n"
                               f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        result = json.loads(out.read_text())
    result["child_wall_seconds"] = wall
    return result


def write_json(path: Path, data: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def result_path(name: str, quick: bool) -> Path:
    return RESULTS / (f"{name}_quick.json" if quick else f"{name}.json")


def pair_source(folder: Path, count: int | None = None):
    """A streaming PairSource over the first `count` pairs of a synthetic folder, seed [mask] options."""
    from flexunet.data.dataset import MaskOptions, PairSource
    from flexunet.data.pairs import pair_files

    pairs = pair_files(folder / "images", folder / "masks", "images", "masks")[:count]
    opts = MaskOptions(SEED_MASK["binarize"], SEED_MASK["threshold"], SEED_MASK["blur"], (3, 3))
    return PairSource(pairs, (128, 128), 3, opts)


def macs_per_image(model) -> int:
    """Multiply-accumulates of the convolutions for one image (the bulk of a UNet's work)."""
    from keras import layers

    total = 0
    for layer in model.layers:
        if isinstance(layer, (layers.Conv2D, layers.Conv2DTranspose)):
            kh, kw, _, _ = layer.kernel.shape
            ins, outs = layer.input.shape, layer.output.shape
            if isinstance(layer, layers.Conv2DTranspose):
                total += ins[1] * ins[2] * kh * kw * layer.kernel.shape[3] * outs[3]
            else:
                total += outs[1] * outs[2] * kh * kw * ins[3] * outs[3]
    return int(total)
