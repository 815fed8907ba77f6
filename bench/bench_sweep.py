"""Train and predict img/s vs batch size, TF threads and model config on CPU; the JAX backend beside TF."""

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from benchlib import summary  # noqa: E402

DETAILS = """\
python bench/bench_sweep.py [--quick] [--repeats 3] [--out bench/results/sweep.json]
Each threads setting runs in a fresh process (TF fixes its thread pools at the first op); inside it
every config x batch size trains warm-up steps, then `repeats` runs of about --images images through
the toolkit path (cached SegmentationBatches), then predicts as many with predict_on_batch.
"""
FULL = {"configs": list(benchlib.FULL_CONFIGS), "batches": [1, 2, 4, 8, 16, 32], "threads": [1, 2],
        "images": 64, "warmup": 2, "pairs": 2000, "backend_config": "seed", "backend_batch": 4,
        "backends": ["tensorflow", "jax"]}
QUICK = {"configs": ["f8_l4"], "batches": [1, 4], "threads": [1], "images": 8, "warmup": 2, "pairs": 200,
         "backend_config": "f8_l4", "backend_batch": 4, "backends": ["jax"]}
HERE = Path(__file__).resolve()


def measure(configs: list[str], batches: list[int], images: int, warmup: int, repeats: int, pairs: int) -> list:
    """Train and predict img/s for each config x batch size, in this process."""
    import keras
    import numpy as np

    from flexunet.data.dataset import SegmentationBatches

    class Stamps(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends: list[float] = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

    plan = {bs: max(3, math.ceil(images / bs)) for bs in batches}
    need = max((warmup + repeats * k) * bs for bs, k in plan.items())
    source = benchlib.pair_source(benchlib.synthetic_pairs(max(pairs, need)), need).cache(progress=False,
                                                                                           workers=2)
    rows = []
    for name in configs:
        model = benchlib.build_model(name)
        for bs, k in plan.items():
            stamps = Stamps()
            model.fit(SegmentationBatches(source, bs, shuffle=True, seed=137, steps=warmup + repeats * k),
                      epochs=1, verbose=0, callbacks=[stamps])
            train = [(stamps.ends[warmup + (r + 1) * k - 1] - stamps.ends[warmup + r * k - 1]) / k
                     for r in range(repeats)]
            x = source.images[:k * bs].astype(np.float32)
            model.predict_on_batch(x[:bs])
            predict = []
            for _ in range(repeats):
                started = time.perf_counter()
                for i in range(0, k * bs, bs):
                    model.predict_on_batch(x[i:i + bs])
                predict.append((time.perf_counter() - started) / k)
            rows.append({"config": name, "base_filters": benchlib.CONFIGS[name][0],
                         "num_layers": benchlib.CONFIGS[name][1], "params": model.count_params(),
                         "gmacs_per_image": benchlib.macs_per_image(model) / 1e9,
                         "batch": bs, "steps_per_repeat": k,
                         "train_img_per_s": summary([bs / t for t in train]),
                         "predict_img_per_s": summary([bs / t for t in predict])})
        del model
        keras.backend.clear_session()
    return rows


def child(args) -> int:
    benchlib.set_threads(args.threads)
    import keras

    rows = measure(args.configs.split(","), [int(b) for b in args.batches.split(",")], args.images,
                   args.warmup, args.repeats, args.pairs)
    benchlib.write_json(Path(args.out), {"threads": args.threads or "default", "backend": keras.backend.backend(),
                                         "rows": rows, "peak_rss_mib": benchlib.peak_rss_mib()})
    return 0


def child_args(configs: list[str], batches: list[int], s: dict, repeats: int, threads: int) -> list[str]:
    return ["--child", "--threads", str(threads), "--configs", ",".join(configs),
            "--batches", ",".join(str(b) for b in batches), "--images", str(s["images"]),
            "--warmup", str(s["warmup"]), "--repeats", str(repeats), "--pairs", str(s["pairs"])]


def speedups(rows: list[dict], reference: str, batch: int | None = None) -> list[dict]:
    """Median train img/s of each row over the reference config's at the same threads and at the
    same batch size (batch None) or at one fixed batch size (per epoch vs the reference as it ran)."""
    ref = {(r["threads"], r["batch"]): r["train_img_per_s"]["median"] for r in rows if r["config"] == reference}
    out = []
    for r in rows:
        key = (r["threads"], r["batch"] if batch is None else batch)
        if key in ref:
            out.append({"config": r["config"], "threads": r["threads"], "batch": r["batch"],
                        "train_speedup": r["train_img_per_s"]["median"] / ref[key]})
    return out


def sweep(s: dict, repeats: int) -> dict:
    rows = []
    for threads in s["threads"]:
        result = benchlib.run_child(HERE, child_args(s["configs"], s["batches"], s, repeats, threads))
        rows += [{**row, "threads": threads} for row in result["rows"]]
    reference = "seed" if "seed" in s["configs"] else s["configs"][0]
    same_batch = speedups(rows, reference)
    ref_batch = 4 if 4 in s["batches"] else s["batches"][0]
    per_epoch = speedups(rows, reference, ref_batch)
    most = max(s["threads"])
    best_batch = {}
    for name, threads in sorted({(r["config"], r["threads"]) for r in rows}):
        top = max((r for r in rows if r["config"] == name and r["threads"] == threads),
                  key=lambda r: r["train_img_per_s"]["median"])
        best_batch[f"{name}@{threads}_threads"] = {"batch": top["batch"],
                                                   "train_img_per_s": top["train_img_per_s"]["median"]}
    return {"reference": reference, "rows": rows, "train_speedup_same_batch": same_batch,
            f"train_speedup_vs_{reference}_at_batch_{ref_batch}": per_epoch,
            "per_epoch_4x_faster_than_reference": [
                {"config": u["config"], "batch": u["batch"], "speedup": u["train_speedup"]}
                for u in per_epoch if u["threads"] == most and u["train_speedup"] >= 4.0],
            "best_train_batch": best_batch}


def backends(s: dict, repeats: int) -> dict:
    """The same config and batch, default threads, trained under TensorFlow and under JAX (--quick: JAX only)."""
    import importlib.util

    out = {}
    for backend in s["backends"]:
        if backend == "jax" and importlib.util.find_spec("jax") is None:
            out[backend] = "skipped: jax is not installed"
            continue
        args = child_args([s["backend_config"]], [s["backend_batch"]], s, repeats, 0)
        try:
            result = benchlib.run_child(HERE, args, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu")
            out[backend] = {**result["rows"][0], "peak_rss_mib": result["peak_rss_mib"]}
        except RuntimeError as exc:
            out[backend] = {"error": str(exc)[-1500:]}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, epilog=DETAILS,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one tiny config, two batch sizes")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, at least 3")
    parser.add_argument("--out", help="JSON path (default bench/results/sweep[_quick].json)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("threads", "images", "warmup", "pairs"):
        parser.add_argument(f"--{name}", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--configs", help=argparse.SUPPRESS)
    parser.add_argument("--batches", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.repeats = max(3, args.repeats)
    if args.child:
        return child(args)
    s = QUICK if args.quick else FULL
    result = benchlib.header({**s, "repeats": args.repeats, "quick": args.quick})
    result["sweep"] = sweep(s, args.repeats)
    result["backends"] = backends(s, args.repeats)
    out = Path(args.out) if args.out else benchlib.result_path("sweep", args.quick)
    benchlib.write_json(out, result)
    for row in result["sweep"]["rows"]:
        print(f"{row['config']:>7} ({row['params']:>10,} params) threads {row['threads']} batch {row['batch']:>2}: "
              f"train {row['train_img_per_s']['median']:7.1f} img/s, predict {row['predict_img_per_s']['median']:7.1f}")
    for backend, row in result["backends"].items():
        if isinstance(row, dict) and "train_img_per_s" in row:
            print(f"{backend}: train {row['train_img_per_s']['median']:.1f} img/s")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
