"""Inference ms/image: run_inference end to end vs bare batched predict vs the seed's per-image loop."""

import argparse
import contextlib
import cProfile
import io
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from benchlib import interleaved, timed  # noqa: E402

import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import flexunet.data.io  # noqa: E402
import flexunet.inference.run  # noqa: E402
import flexunet.plots  # noqa: E402
from flexunet.model.files import BEST_MODEL# noqa: E402
from flexunet.config import load_config  # noqa: E402
from flexunet.data.dataset import resize_image  # noqa: E402
from flexunet.data.io import encode_image, list_images, read_image  # noqa: E402
from flexunet.model.store import model_signature# noqa: E402
from flexunet.model.files import write_info# noqa: E402
from flexunet.inference.predict import batched, model_predictor# noqa: E402

DETAILS = """\
python bench/bench_infer.py [--quick] [--repeats 3] [--out bench/results/infer.json]
Synthetic jpg images of several sizes and a randomly initialised model saved as a trained one.
run_inference is timed cold (as 3.infer runs: load, trace, read, resize, predict, resize back, write
masks and overlays) and warm (model already loaded and traced), with each phase timed, and profiled
once with cProfile.
"""
FULL = {"config": "seed", "images": 200, "sizes": [(128, 128), (200, 160), (256, 256)], "batch": 16}
QUICK = {"config": "f8_l4", "images": 24, "sizes": [(128, 128), (200, 160)], "batch": 16}
# (module, attribute, label): what run_inference calls, timed in place. Nested labels overlap:
# _write holds to_mask, overlay and write_image; write_image holds atomic_write (temp file, fsync, rename).
TARGETS = (("flexunet.infer", "load_trained", "load_trained"), ("flexunet.infer", "_outputs", "output_dirs"),
           ("flexunet.infer", "read_image", "read_image"), ("flexunet.infer", "resize_image", "resize_image"),
           ("flexunet.infer", "_write", "write_mask_and_overlay"), ("flexunet.infer", "to_mask", "to_mask"),
           ("flexunet.plots", "overlay", "overlay"), ("flexunet.infer", "write_image", "write_image"),
           ("flexunet.data.io", "atomic_write_bytes", "atomic_write"),
           ("flexunet.infer", "write_montage", "write_montage"))
PHASES = tuple(label for _, _, label in TARGETS) + ("predict",)


def prepare(s: dict, work: Path):
    """A config whose model_dir holds a (random) model with model_info.json, and its image folder."""
    images = benchlib.synthetic_images(s["images"], s["sizes"])
    path = benchlib.write_config(work / "train_eval_infer.config", {
        "model": benchlib.model_section(s["config"]),
        "train": {"model_dir": work / "models", "eval_dir": work / "eval"},
        "infer": {"images_dir": images, "output_dir": work / "out", "merged_dir": work / "merged",
                  "batch_size": s["batch"]},
        "mask": benchlib.SEED_MASK})
    config = load_config(str(path))
    model = benchlib.build_model(s["config"])
    (work / "models").mkdir(parents=True, exist_ok=True)
    model.save(str(work / "models" / BEST_MODEL))
    write_info(str(work / "models"), {"threshold": 0.5, "model": model_signature(config.model)})
    return config, model, images


class Phases:
    """Wraps the functions run_inference looks up (TARGETS) and adds up their time per label."""

    def __init__(self, preloaded=None):
        self.seconds = {name: 0.0 for name in PHASES}
        self.preloaded = preloaded

    def wrap(self, label, original):
        def timed_call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started
        return timed_call

    @contextlib.contextmanager
    def installed(self):
        modules = {name: sys.modules[name] for name, _, _ in TARGETS}
        originals = [(modules[m], attr, getattr(modules[m], attr)) for m, attr, _ in TARGETS]
        originals.append((flexunet.infer, "model_predictor", flexunet.inference.run.model_predictor))
        for (owner, attr, original), (_, _, label) in zip(originals, TARGETS):
            setattr(owner, attr, self.wrap(label, original))
        if self.preloaded is not None:
            flexunet.inference.run.load_trained = self.wrap("load_trained", lambda config: self.preloaded)
        make_predictor = originals[-1][2]
        flexunet.inference.run.model_predictor = lambda model, tta=False: self.wrap("predict", make_predictor(model, tta))
        try:
            yield self
        finally:
            for owner, attr, original in originals:
                setattr(owner, attr, original)


def end_to_end(config, work: Path, phases: Phases) -> float:
    for folder in ("out", "merged"):
        shutil.rmtree(work / folder, ignore_errors=True)
    with phases.installed(), contextlib.redirect_stdout(io.StringIO()):
        return timed(lambda: flexunet.inference.run.run_inference(config))


def seed_style(model, files: list[Path], work: Path, size: tuple[int, int]) -> None:
    """The seed's loop: per image read, resize, model.predict on a batch of one, resize back, write."""
    out, merged = work / "seed_out", work / "seed_merged"
    for folder in (out, merged):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for f in files:
        image = cv2.imread(str(f))
        h, w = image.shape[:2]
        x = cv2.resize(image, size[::-1])[:, :, ::-1].astype(np.float32)
        probs = model.predict(np.expand_dims(x, 0), verbose=0)[0, :, :, 0]
        mask = np.where(cv2.resize(probs, (w, h)) > 0.5, 255, 0).astype(np.uint8)
        cv2.imwrite(str(out / f"{f.stem}.png"), mask)
        cv2.imwrite(str(merged / f"{f.stem}.png"), cv2.addWeighted(image, 1.0, cv2.merge([mask] * 3), 0.4, 0))


def profile(config, work: Path, preloaded) -> list[dict]:
    """Top functions of one warm run_inference by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    end_to_end(config, work, Phases(preloaded))
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = sorted(stats.stats.items(), key=lambda item: item[1][3], reverse=True)[:25]
    return [{"function": f"{Path(fn[0]).name}:{fn[1]}:{fn[2]}", "calls": v[1], "tottime_s": v[2], "cumtime_s": v[3]}
            for fn, v in rows]


def png_encoding(files: list[Path], repeats: int) -> dict:
    """ms to PNG-encode one overlay: the toolkit's encode_image (PIL) vs cv2.imencode defaults."""
    image = read_image(files[-1])
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.circle(mask, (image.shape[1] // 2, image.shape[0] // 2), min(image.shape[:2]) // 4, 255, -1)
    overlay = flexunet.plots.overlay(image, mask)
    bgr = np.ascontiguousarray(overlay[:, :, ::-1])
    n = 20
    runs = interleaved({
        "toolkit_encode_image": lambda: timed(lambda: [encode_image(overlay, ".png") for _ in range(n)]) / n * 1e3,
        "cv2_imencode": lambda: timed(lambda: [cv2.imencode(".png", bgr) for _ in range(n)]) / n * 1e3,
    }, repeats)
    return {"image_shape": list(overlay.shape), "ms_per_overlay": runs,
            "bytes": {"toolkit_encode_image": len(encode_image(overlay, ".png")),
                      "cv2_imencode": len(cv2.imencode(".png", bgr)[1])}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, epilog=DETAILS,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny model, 24 images")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, at least 3")
    parser.add_argument("--out", help="JSON path (default bench/results/infer[_quick].json)")
    args = parser.parse_args(argv)
    s, repeats = QUICK if args.quick else FULL, max(3, args.repeats)
    result = benchlib.header({**s, "repeats": repeats, "quick": args.quick})
    result["backend"] = keras.backend.backend()
    size = (128, 128)
    with tempfile.TemporaryDirectory(prefix="flexunet_bench_infer_") as tmp:
        work = Path(tmp)
        config, model, images_dir = prepare(s, work)
        files = list_images(images_dir, "images")
        arrays = np.stack([resize_image(read_image(f), size) for f in files]).astype(np.float32)
        n, bs = len(files), s["batch"]
        seed_model = keras.models.clone_model(model)
        seed_model.set_weights(model.get_weights())
        model.predict(arrays, batch_size=bs, verbose=0)
        batched(model_predictor(model), arrays, bs)
        seed_model.predict(arrays[:1], verbose=0)
        warm = (model, 0.5)
        cold_phases, warm_phases = [], []

        def run(collect: list, preloaded):
            def work_fn() -> float:
                phases = Phases(preloaded)
                seconds = end_to_end(config, work, phases)
                collect.append(phases.seconds)
                return seconds / n * 1e3
            return work_fn

        runs = interleaved({
            "run_inference_cold": run(cold_phases, None),
            "run_inference_warm": run(warm_phases, warm),
            "bare_model_predict": lambda: timed(lambda: model.predict(arrays, batch_size=bs, verbose=0)) / n * 1e3,
            "bare_predict_on_batch": lambda: timed(lambda: batched(model_predictor(model), arrays, bs)) / n * 1e3,
            "seed_style_per_image": lambda: timed(lambda: seed_style(seed_model, files, work, size)) / n * 1e3,
        }, repeats)
        bare = runs["bare_model_predict"]

        def phase_summary(collected: list) -> dict:
            return {name: benchlib.summary([p[name] / n * 1e3 for p in collected]) for name in PHASES}

        result["ms_per_image"] = runs
        result["ratios_vs_bare_model_predict"] = {k: benchlib.ratio(v, bare) for k, v in runs.items()}
        result["ratios_vs_bare_predict_on_batch"] = {k: benchlib.ratio(v, runs["bare_predict_on_batch"])
                                                     for k, v in runs.items()}
        result["seed_style_over_run_inference_warm"] = benchlib.ratio(runs["seed_style_per_image"],
                                                                      runs["run_inference_warm"])
        result["phases_ms_per_image"] = {"cold": phase_summary(cold_phases), "warm": phase_summary(warm_phases)}
        result["profile_warm_top25"] = profile(config, work, warm)
        result["png_encoding"] = png_encoding(files, repeats)
    result["images"] = n
    result["peak_rss_mib"] = benchlib.peak_rss_mib()
    out = Path(args.out) if args.out else benchlib.result_path("infer", args.quick)
    benchlib.write_json(out, result)
    print("infer ms/image (median): " + ", ".join(f"{k} {v['median']:.2f}" for k, v in runs.items())
          + f"; warm / bare predict_on_batch {result['ratios_vs_bare_predict_on_batch']['run_inference_warm']:.2f}"
          f"; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
