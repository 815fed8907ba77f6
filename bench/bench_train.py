"""Training speed on CPU: the seed's fit on numpy vs the toolkit's batches, epoch overhead, precision and XLA."""

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from benchlib import interleaved, inverse, summary  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

import flexunet.training.callbacks  # noqa: E402
import flexunet.training.run  # noqa: E402
from flexunet.config import load_config  # noqa: E402
from flexunet.data.dataset import SegmentationBatches  # noqa: E402

DETAILS = """\
python bench/bench_train.py [--quick] [--repeats 3] [--out bench/results/train.json]
Seed config, batch 4: s/step after warm-up steps for (a) model.fit on in-memory numpy arrays (the
seed's way) and (b) flexunet SegmentationBatches, cached and streaming, same compiled model; then
whole epochs through run_training against steps x step time + validation time, with the per-epoch
checkpoint and history writing timed apart; then mixed precision and jit_compile on and off.
"""
FULL = {"config": "seed", "batch": 4, "steps": 30, "warmup": 3, "epoch_pairs": 160,
        "pairs": 2000, "precision_steps": 10,
        "precision_variants": [(False, False), (False, True), (True, False), (True, True)]}
QUICK = {"config": "f8_l4", "batch": 4, "steps": 5, "warmup": 2, "epoch_pairs": 40,
         "pairs": 200, "precision_steps": 3, "precision_variants": [(False, False), (False, True), (True, False)]}


class StepTimer(keras.callbacks.Callback):
    """perf_counter at the end of every train and test batch."""

    def __init__(self):
        super().__init__()
        self.train: list[float] = []
        self.test: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.train.append(time.perf_counter())

    def on_test_batch_end(self, batch, logs=None):
        self.test.append(time.perf_counter())


def segments(stamps: list[float], warmup: int, steps: int, count: int = 1) -> list[float]:
    """Seconds per step of `count` runs of `steps` steps after `warmup` steps."""
    return [(stamps[warmup + (i + 1) * steps - 1] - stamps[warmup + i * steps - 1]) / steps for i in range(count)]


def fit_steps(model, data, s: dict, **fit_args) -> float:
    """One fit of warmup + steps steps; seconds per step after the warm-up."""
    timer = StepTimer()
    model.fit(data, epochs=1, shuffle=False, verbose=0, callbacks=[timer], **fit_args)
    return segments(timer.train, s["warmup"], s["steps"])[0]


def set_determinism(on: bool) -> None:
    """TF op determinism, which run_training switches on (and which makes Keras drop XLA on TF)."""
    if keras.backend.backend() == "tensorflow":
        from tensorflow.python.framework import config as tf_config

        (tf_config.enable_op_determinism if on else tf_config.disable_op_determinism)()


def step_speed(s: dict, repeats: int) -> dict:
    """(a) seed-style fit on numpy vs (b) SegmentationBatches cached / streaming, same config.

    The toolkit variants run with op determinism on, as run_training sets it; the *_nondeterministic
    ones with it off, as the seed ran. Each state has its own model, traced under that state.
    """
    bs, total = s["batch"], (s["warmup"] + s["steps"]) * s["batch"]
    folder = benchlib.synthetic_pairs(s["pairs"])
    cached = benchlib.pair_source(folder, total).cache(progress=False, workers=2)
    streaming = benchlib.pair_source(folder, total)
    x = cached.images.astype(np.float32)
    y = (cached.masks.astype(np.float32) / 255.0)[..., None]
    models = {False: benchlib.build_model(s["config"]), True: benchlib.build_model(s["config"])}
    steps = s["warmup"] + s["steps"]

    def batches(source):
        return SegmentationBatches(source, bs, shuffle=True, seed=137, steps=steps)

    def fit(source, deterministic: bool):
        def work() -> float:
            set_determinism(deterministic)
            if source is None:
                return fit_steps(models[deterministic], x, s, y=y, batch_size=bs)
            return fit_steps(models[deterministic], batches(source), s)
        return work

    def validation() -> float:
        set_determinism(True)
        timer = StepTimer()
        models[True].evaluate(batches(cached), verbose=0, callbacks=[timer])
        return segments(timer.test, s["warmup"], s["steps"])[0]

    runs = interleaved({
        "seed_style_fit_numpy": fit(None, False),
        "toolkit_cached": fit(cached, True),
        "toolkit_streaming": fit(streaming, True),
        "toolkit_cached_nondeterministic": fit(cached, False),
        "toolkit_streaming_nondeterministic": fit(streaming, False),
        "validation_cached": validation,
    }, repeats)
    seed = runs["seed_style_fit_numpy"]
    return {
        "config": s["config"], "params": models[True].count_params(), "batch": bs, "steps": s["steps"],
        "warmup_steps": s["warmup"], "s_per_step": runs,
        "img_per_s": {k: inverse(v, bs) for k, v in runs.items() if k != "validation_cached"},
        "ratio_s_per_step_vs_seed_style": {k: benchlib.ratio(v, seed) for k, v in runs.items()
                                           if k.startswith("toolkit")},
    }


class EpochTimer(keras.callbacks.Callback):
    """Timestamps of epoch, batch and validation events; one goes first in the list, one last."""

    def __init__(self):
        super().__init__()
        self.epoch_begin: list[float] = []
        self.epoch_end: list[float] = []
        self.batch_end: list[list[float]] = []
        self.test_begin: list[float] = []
        self.test_end: list[float] = []
        self.test_batches: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_begin.append(time.perf_counter())
        self.batch_end.append([])

    def on_train_batch_end(self, batch, logs=None):
        self.batch_end[-1].append(time.perf_counter())

    def on_test_begin(self, logs=None):
        self.test_begin.append(time.perf_counter())
        self.test_batches.append(0)

    def on_test_batch_end(self, batch, logs=None):
        self.test_batches[-1] += 1

    def on_test_end(self, logs=None):
        self.test_end.append(time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_end.append(time.perf_counter())


@contextlib.contextmanager
def patched(owner, name: str, make):
    """Temporarily replace owner.name with make(original)."""
    original = getattr(owner, name)
    setattr(owner, name, make(original))
    try:
        yield
    finally:
        setattr(owner, name, original)


def timing(log: list, label: str, first: EpochTimer):
    """A wrapper factory that appends (epoch index, label, seconds) to log for each call."""
    def make(original):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                log.append((len(first.epoch_begin) - 1, label, time.perf_counter() - started))
        return wrapper
    return make


def breakdown(first: EpochTimer, last: EpochTimer, log: list, ref_step: float, ref_val: float) -> list[dict]:
    """Per epoch: total, train steps, validation, end-of-epoch callbacks, saving; vs the reference."""
    epochs = []
    for e in range(len(last.epoch_end)):
        start = last.epoch_end[e - 1] if e else first.epoch_begin[0]
        steps, val_steps = len(first.batch_end[e]), first.test_batches[e]
        expected = steps * ref_step + val_steps * ref_val
        saved = {label: sum(t for i, lb, t in log if i == e and lb == label) for _, label, _ in log}
        total = last.epoch_end[e] - start
        epochs.append({
            "epoch": e, "steps": steps, "validation_steps": val_steps, "total_s": total,
            "train_steps_s": first.batch_end[e][-1] - first.epoch_begin[e],
            "validation_s": first.test_end[e] - first.test_begin[e],
            "epoch_end_callbacks_s": last.epoch_end[e] - first.epoch_end[e],
            "saving_s": saved, "expected_s": expected, "ratio_to_expected": total / expected,
            "ratio_without_saving": (total - sum(saved.values())) / expected,
        })
    return epochs


def steady(epochs: list[dict]) -> dict:
    """Summaries over the epochs after the first (which includes tracing)."""
    rest = epochs[1:] or epochs
    keys = ("total_s", "train_steps_s", "validation_s", "epoch_end_callbacks_s", "expected_s",
            "ratio_to_expected", "ratio_without_saving")
    out = {k: summary([e[k] for e in rest]) for k in keys}
    for label in sorted({label for e in rest for label in e["saving_s"]}):
        out[f"saving_{label}_s"] = summary([e["saving_s"].get(label, 0.0) for e in rest])
    return out


def epoch_overhead(s: dict, repeats: int, ref_step: float, ref_val: float, work: Path) -> dict:
    """Whole epochs through run_training (epochs = 1 + repeats) against steps x step time + validation."""
    folder = benchlib.synthetic_pairs(s["epoch_pairs"])
    path = benchlib.write_config(work / "train_eval_infer.config", {
        "model": benchlib.model_section(s["config"]),
        "train": {"epochs": 1 + repeats, "batch_size": s["batch"], "model_dir": work / "models",
                  "eval_dir": work / "eval", "image_datapath": folder / "images",
                  "mask_datapath": folder / "masks", "patience": 0},
        "mask": benchlib.SEED_MASK})
    config = load_config(str(path))
    first, last, log = EpochTimer(), EpochTimer(), []

    def with_timers(original):
        def fit(self, *args, callbacks=None, **kwargs):
            return original(self, *args, callbacks=[first, *(callbacks or []), last], **kwargs)
        return fit

    def saving_label(original):
        def save(path, save_fn):
            label = Path(path).stem
            return timing(log, label, first)(original)(path, save_fn)
        return save

    with contextlib.ExitStack() as stack:
        stack.enter_context(patched(keras.Model, "fit", with_timers))
        stack.enter_context(patched(flexunet.callbacks, "atomic_save", saving_label))
        stack.enter_context(patched(flexunet.training.callbacks.HistoryWriter, "write", timing(log, "history_csv_png", first)))
        stack.enter_context(patched(flexunet.train, "finish_training", timing(log, "finish_training", first)))
        started = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):
            flexunet.training.run.run_training(config, verbose=0)
        wall = time.perf_counter() - started
    finish = sum(t for _, label, t in log if label == "finish_training")
    epoch_log = [entry for entry in log if entry[1] != "finish_training"]
    epochs = breakdown(first, last, epoch_log, ref_step, ref_val)
    return {"pairs": s["epoch_pairs"], "epochs": len(epochs), "reference_s_per_step": ref_step,
            "reference_validation_s_per_step": ref_val, "run_training_wall_s": wall,
            "setup_before_first_epoch_s": first.epoch_begin[0] - started,
            "finish_training_s": finish, "per_epoch": epochs, "steady_epochs": steady(epochs)}


def seed_style_epochs(s: dict, repeats: int, ref_step: float, ref_val: float, work: Path) -> dict:
    """The seed's fit: numpy, validation_split 0.2, EarlyStopping, ModelCheckpoint(.h5), CSVLogger."""
    source = benchlib.pair_source(benchlib.synthetic_pairs(s["epoch_pairs"])).cache(progress=False, workers=2)
    x = source.images.astype(np.float32)
    y = (source.masks.astype(np.float32) / 255.0)[..., None]
    model = benchlib.build_model(s["config"])
    first, last, log = EpochTimer(), EpochTimer(), []
    callbacks = [first, keras.callbacks.EarlyStopping(patience=10),
                 keras.callbacks.ModelCheckpoint(str(work / "seed_best.h5"), save_best_only=True),
                 keras.callbacks.CSVLogger(str(work / "seed_history.csv")), last]
    with patched(keras.Model, "save", timing(log, "checkpoint_h5", first)):
        model.fit(x, y, validation_split=0.2, batch_size=s["batch"], epochs=1 + repeats, shuffle=False,
                  callbacks=callbacks, verbose=0)
    epochs = breakdown(first, last, log, ref_step, ref_val)
    return {"pairs": s["epoch_pairs"], "per_epoch": epochs, "steady_epochs": steady(epochs)}


def precision_and_xla(s: dict, repeats: int) -> dict:
    """Train img/s of the toolkit path (cached) with mixed_precision and jit_compile on and off.

    Op determinism is off here: with it on (as run_training sets it) Keras ignores jit_compile on TF.
    """
    bs, steps = s["batch"], s["precision_steps"]
    total = (s["warmup"] + repeats * steps) * bs
    source = benchlib.pair_source(benchlib.synthetic_pairs(s["pairs"]), total).cache(progress=False, workers=2)
    out = {"config": s["config"], "batch": bs, "steps_per_repeat": steps}
    for mixed, jit in s["precision_variants"]:
        name = f"{'mixed_bfloat16' if mixed else 'float32'}_jit_{str(jit).lower()}"
        try:
            set_determinism(False)
            model = benchlib.build_model(s["config"], mixed_precision=mixed, jit_compile=jit)
            timer = StepTimer()
            started = time.perf_counter()
            model.fit(SegmentationBatches(source, bs, steps=s["warmup"] + repeats * steps), epochs=1,
                      verbose=0, callbacks=[timer])
            per_step = segments(timer.train, s["warmup"], steps, repeats)
            out[name] = {"train_img_per_s": summary([bs / t for t in per_step]),
                         "warmup_s": timer.train[s["warmup"] - 1] - started,
                         "effective_jit_compile": bool(model.jit_compile)}
        except Exception as exc:  # a variant the backend cannot run is reported, not fatal
            out[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
        keras.backend.clear_session()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, epilog=DETAILS,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny model, few steps (smoke test)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, at least 3")
    parser.add_argument("--out", help="JSON path (default bench/results/train[_quick].json)")
    args = parser.parse_args(argv)
    s, repeats = dict(QUICK if args.quick else FULL), max(3, args.repeats)
    s["pairs"] = max(s["pairs"], (s["warmup"] + repeats * max(s["steps"], s["precision_steps"])) * s["batch"])
    result = benchlib.header({**s, "repeats": repeats, "quick": args.quick})
    result["backend"] = keras.backend.backend()
    sections = result["section_seconds"] = {}
    begun = time.perf_counter()
    result["step_speed"] = step_speed(s, repeats)
    sections["step_speed"] = time.perf_counter() - begun
    ref_step = result["step_speed"]["s_per_step"]["toolkit_cached"]["median"]
    ref_val = result["step_speed"]["s_per_step"]["validation_cached"]["median"]
    ref_seed = result["step_speed"]["s_per_step"]["seed_style_fit_numpy"]["median"]
    with tempfile.TemporaryDirectory(prefix="flexunet_bench_train_") as tmp:
        begun = time.perf_counter()
        result["epoch_overhead"] = epoch_overhead(s, repeats, ref_step, ref_val, Path(tmp) / "toolkit")
        result["seed_style_epoch"] = seed_style_epochs(s, repeats, ref_seed, ref_val, Path(tmp))
        sections["epochs"] = time.perf_counter() - begun
    keras.backend.clear_session()
    begun = time.perf_counter()
    result["precision_and_xla"] = precision_and_xla(s, repeats)
    sections["precision_and_xla"] = time.perf_counter() - begun
    result["peak_rss_mib"] = benchlib.peak_rss_mib()
    out = Path(args.out) if args.out else benchlib.result_path("train", args.quick)
    benchlib.write_json(out, result)
    speed, epoch = result["step_speed"], result["epoch_overhead"]["steady_epochs"]
    print(f"train {s['config']} batch {s['batch']}: img/s (median) "
          + ", ".join(f"{k} {v['median']:.1f}" for k, v in speed["img_per_s"].items())
          + f"; epoch / expected {epoch['ratio_to_expected']['median']:.2f} "
          f"({epoch['ratio_without_saving']['median']:.2f} without saving); wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
