"""Run every CPU benchmark, one process each, and merge their JSON into one file with a summary."""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402

DETAILS = """\
.venv/bin/python bench/run_all.py [--quick] [--out bench/results/bench.json] [--only train,infer]
Order: data, train, sweep, recipes, infer, memory, generator. Each module also runs alone and writes
bench/results/<name>[_quick].json. --quick shrinks everything (tiny model, few steps) for a smoke test.
"""
BENCH = Path(__file__).resolve().parent
MODULES = ("data", "train", "sweep", "recipes", "infer", "memory", "generator")


def command(name: str, quick: bool, repeats: int, out: Path) -> list[str]:
    if name == "generator":
        cells = ["--cells", "5"] if quick else []
        return [sys.executable, str(BENCH / "bench_generator.py"), *cells, "--repeats", str(repeats),
                "--output", str(out)]
    return [sys.executable, str(BENCH / f"bench_{name}.py"), *(["--quick"] if quick else []),
            "--repeats", str(repeats), "--out", str(out)]


def med(stats: dict) -> float:
    return stats["median"]


def headline(results: dict) -> dict:
    """The figures the targets are about, medians, from each module's JSON."""
    out: dict = {}
    if "train" in results:
        t = results["train"]
        speed, epoch = t["step_speed"], t["epoch_overhead"]["steady_epochs"]
        out["train_img_per_s"] = {k: med(v) for k, v in speed["img_per_s"].items()}
        out["toolkit_over_seed_style_s_per_step"] = speed["ratio_s_per_step_vs_seed_style"]
        out["epoch_over_expected"] = {"ratio": med(epoch["ratio_to_expected"]),
                                      "without_saving": med(epoch["ratio_without_saving"]), "target": 1.1}
        out["epoch_saving_s"] = {k: med(v) for k, v in epoch.items() if k.startswith("saving_")}
        out["train_img_per_s_precision_xla"] = {k: med(v["train_img_per_s"]) for k, v in
                                               t["precision_and_xla"].items() if isinstance(v, dict)
                                               and "train_img_per_s" in v}
    if "sweep" in results:
        s = results["sweep"]
        out["per_epoch_4x_faster_than_reference"] = s["sweep"]["per_epoch_4x_faster_than_reference"]
        out["best_train_batch"] = s["sweep"]["best_train_batch"]
        out["backends_train_img_per_s"] = {k: med(v["train_img_per_s"]) for k, v in s["backends"].items()
                                           if isinstance(v, dict) and "train_img_per_s" in v}
    if "recipes" in results:
        r = results["recipes"]
        out["recipe_speedup_vs_seed_per_epoch"] = r["speedup_vs_seed_recipe"]
        out["recipe_seconds_per_epoch_of_1633_images"] = r["seconds_per_epoch_of_1633_images"]
    if "infer" in results:
        i = results["infer"]
        out["infer_ms_per_image"] = {k: med(v) for k, v in i["ms_per_image"].items()}
        out["infer_over_bare_model_predict"] = {**i["ratios_vs_bare_model_predict"], "target": 1.3}
        out["infer_over_bare_predict_on_batch"] = {**i["ratios_vs_bare_predict_on_batch"], "target": 1.3}
    if "data" in results:
        out["data_images_per_s"] = {k: med(v) for k, v in results["data"]["images_per_s"].items()}
    if "memory" in results:
        m = results["memory"]
        out["peak_rss_mib"] = {k: med(v["peak_rss_mib"]) for k, v in m["runs"].items()}
        out["streamed_over_cached_peak"] = {**m["streamed_over_cached_peak"], "target": 1.5}
    if "generator" in results:
        g = results["generator"]
        out["generator_s_per_cell"] = {k: med(v) for k, v in g["generator_with_file_writes_seconds_per_cell"].items()
                                       if isinstance(v, dict)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, epilog=DETAILS,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny model, few steps (< 3 minutes)")
    parser.add_argument("--out", help="merged JSON (default bench/results/bench[_quick].json)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of every figure, at least 3")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(MODULES)}")
    args = parser.parse_args(argv)
    names = [n for n in (args.only.split(",") if args.only else MODULES) if n]
    unknown = sorted(set(names) - set(MODULES))
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; expected some of {', '.join(MODULES)}")
    repeats = max(3, args.repeats)
    merged = benchlib.header({"quick": args.quick, "repeats": repeats, "modules": names,
                              "data_root": str(benchlib.DATA_ROOT)})
    merged.update({"results": {}, "wall_seconds": {}, "errors": {}})
    started = time.perf_counter()
    for name in names:
        out = benchlib.result_path(name, args.quick)
        cmd = command(name, args.quick, repeats, out)
        print(f"== {name}: {' '.join(Path(c).name if c.endswith('.py') else c for c in cmd[1:])}", flush=True)
        begun = time.perf_counter()
        done = subprocess.run(cmd, env=benchlib.child_env(), stderr=subprocess.PIPE, text=True)
        merged["wall_seconds"][name] = time.perf_counter() - begun
        if done.returncode != 0:
            merged["errors"][name] = done.stderr[-4000:]
            print(f"!! {name} failed ({done.returncode}); see errors.{name} in the JSON", flush=True)
            continue
        merged["results"][name] = json.loads(out.read_text())
    merged["wall_seconds"]["total"] = time.perf_counter() - started
    merged["headline"] = headline(merged["results"])
    path = Path(args.out) if args.out else benchlib.result_path("bench", args.quick)
    benchlib.write_json(path, merged)
    print(json.dumps(merged["headline"], indent=1, default=str))
    print(f"total {merged['wall_seconds']['total']:.0f} s; wrote {path}")
    return 1 if merged["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
