"""Peak RSS of training in fresh processes: the seed config, and streamed 20,000 pairs vs cached 2,000."""

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from benchlib import summary  # noqa: E402

DETAILS = """\
python bench/bench_memory.py [--quick] [--repeats 3] [--out bench/results/memory.json]
Each run is run_training in its own process for a fixed number of steps (epochs 1, steps_per_epoch,
validation_steps); streamed runs set [train] in_memory = False, cached ones leave it on auto (None).
The child reads its own VmHWM after imports, before finish_training (fit only) and at the end
(after the threshold selection on the whole validation set).
Target: peak(streamed 20k) <= 1.5 x peak(cached 2k).
"""
HERE = Path(__file__).resolve()
# name: (config, pairs, in_memory, select_threshold, steps, validation_steps). auto_20k shows what
# in_memory = None decides for 20,000 pairs (the limit applies to each split separately).
FULL = {"seed_config": ("seed", 160, None, True, 5, 2),
        "streamed_20k": ("f8_l6", 20000, False, True, 20, 5),
        "cached_2k": ("f8_l6", 2000, None, True, 20, 5),
        "streamed_20k_no_threshold": ("f8_l6", 20000, False, False, 20, 5),
        "cached_2k_no_threshold": ("f8_l6", 2000, None, False, 20, 5),
        "auto_20k": ("f8_l6", 20000, None, True, 20, 5)}
QUICK = {"seed_config": ("f8_l4", 40, None, True, 3, 2),
         "streamed_20k": ("f8_l4", 2000, False, True, 5, 2),
         "cached_2k": ("f8_l4", 200, None, True, 5, 2)}


def vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(args) -> int:
    start_rss = vm("VmRSS")
    import flexunet.training.run
    from flexunet.config import load_config
    from flexunet.data.dataset import should_cache
    from flexunet.data.splits import split_sources

    folder = benchlib.synthetic_pairs(args.pairs)
    in_memory = {"auto": None, "true": True, "false": False}[args.in_memory]
    with tempfile.TemporaryDirectory(prefix="flexunet_bench_mem_") as tmp:
        work = Path(tmp)
        path = benchlib.write_config(work / "train_eval_infer.config", {
            "model": benchlib.model_section(args.config),
            "train": {"epochs": 1, "batch_size": 4, "steps_per_epoch": args.steps,
                      "validation_steps": args.val_steps, "in_memory": in_memory,
                      "select_threshold": bool(args.select_threshold), "patience": 0,
                      "model_dir": work / "models", "eval_dir": work / "eval",
                      "image_datapath": folder / "images", "mask_datapath": folder / "masks"},
            "mask": benchlib.SEED_MASK})
        config = load_config(str(path))
        marks = {"after_imports_mib": vm("VmHWM")}
        original = flexunet.training.run.finish_training

        def finish(*a, **k):
            marks["peak_before_finish_training_mib"] = vm("VmHWM")
            return original(*a, **k)

        flexunet.training.run.finish_training = finish
        train_src, val_src, _ = split_sources(config)
        started = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):
            flexunet.training.run.run_training(config, verbose=0)
        wall = time.perf_counter() - started
    benchlib.write_json(Path(args.out), {
        "start_rss_mib": start_rss, **marks, "peak_rss_mib": vm("VmHWM"), "run_training_s": wall,
        "training_set_cached": should_cache([train_src, val_src], in_memory), "training_pairs": len(train_src),
        "training_set_mib": train_src.nbytes / 2**20})
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, epilog=DETAILS,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny model; 2,000 streamed vs 200 cached; 1 run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each child, at least 3 (1 with --quick)")
    parser.add_argument("--out", help="JSON path (default bench/results/memory[_quick].json)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("pairs", "steps", "val_steps", "select_threshold"):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--in-memory", dest="in_memory", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    plan, repeats = (QUICK, 1) if args.quick else (FULL, max(3, args.repeats))
    result = benchlib.header({"runs": {k: dict(zip(("config", "pairs", "in_memory", "select_threshold", "steps",
                                                     "validation_steps"), v)) for k, v in plan.items()},
                              "repeats": repeats, "quick": args.quick})
    for (_, pairs, *_rest) in plan.values():
        benchlib.synthetic_pairs(pairs)
    raw: dict[str, list[dict]] = {name: [] for name in plan}
    for _ in range(repeats):
        for name, (config, pairs, in_memory, select, steps, val_steps) in plan.items():
            flag = {None: "auto", True: "true", False: "false"}[in_memory]
            raw[name].append(benchlib.run_child(HERE, [
                "--child", "--config", config, "--pairs", str(pairs), "--in-memory", flag,
                "--select-threshold", str(int(select)), "--steps", str(steps), "--val-steps", str(val_steps)]))
    runs = {}
    for name, children in raw.items():
        runs[name] = {key: summary([c[key] for c in children]) for key in
                      ("peak_rss_mib", "peak_before_finish_training_mib", "after_imports_mib", "run_training_s")}
        runs[name].update({k: children[0][k] for k in ("training_set_cached", "training_pairs", "training_set_mib")})
    result["runs"] = runs

    def peak_ratio(a: str, b: str, key: str = "peak_rss_mib") -> float:
        return runs[a][key]["median"] / runs[b][key]["median"]

    def growth(name: str) -> float:
        return runs[name]["peak_rss_mib"]["median"] - runs[name]["after_imports_mib"]["median"]

    result["streamed_over_cached_peak"] = {
        "whole_run": peak_ratio("streamed_20k", "cached_2k"),
        "fit_only": peak_ratio("streamed_20k", "cached_2k", "peak_before_finish_training_mib"),
        "growth_above_imports": growth("streamed_20k") / growth("cached_2k")}
    if "streamed_20k_no_threshold" in runs:
        result["streamed_over_cached_peak"]["select_threshold_false"] = peak_ratio(
            "streamed_20k_no_threshold", "cached_2k_no_threshold")
    out = Path(args.out) if args.out else benchlib.result_path("memory", args.quick)
    benchlib.write_json(out, result)
    print("peak RSS MiB (median): " + ", ".join(f"{k} {v['peak_rss_mib']['median']:.0f}" for k, v in runs.items())
          + "; streamed / cached: " + ", ".join(f"{k} {v:.2f}" for k, v in result["streamed_over_cached_peak"].items())
          + f"; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
