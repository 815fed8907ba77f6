"""GPU throughput: train and predict img/s at several batch sizes, fp32 and mixed bf16, and FLOP use.

bash .gpu/gpu_env.sh python3 bench/bench_gpu.py --out $OUT/gpu.json   (KERAS_BACKEND=jax on the GPU box)
Training goes through the toolkit's own input path (cached SegmentationBatches + model.fit), so
the figure includes feeding the data, not just the step.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
import keras  # noqa: E402

from flexunet.data.dataset import SegmentationBatches  # noqa: E402


class StepClock(keras.callbacks.Callback):
    """Wall time of each training batch end, to time steps after the warm-up."""

    def __init__(self):
        super().__init__()
        self.stamps: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.stamps.append(time.perf_counter())


def train_img_per_s(source, batch: int, bf16: bool, warmup: int, steps: int) -> float:
    model = benchlib.build_model("seed", mixed_precision=bf16)
    data = SegmentationBatches(source, batch, shuffle=True, seed=1, workers=4, steps=warmup + steps)
    clock = StepClock()
    model.fit(data, epochs=1, shuffle=False, verbose=0, callbacks=[clock])
    seconds = clock.stamps[-1] - clock.stamps[warmup - 1]
    return steps * batch / seconds


def predict_img_per_s(source, batch: int, bf16: bool, repeats: int = 20) -> float:
    model = benchlib.build_model("seed", mixed_precision=bf16)
    x = source.images[:batch]
    keras.ops.convert_to_numpy(model.predict_on_batch(x))
    start = time.perf_counter()
    for _ in range(repeats):
        keras.ops.convert_to_numpy(model.predict_on_batch(x))
    return repeats * batch / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="4,32,128,256")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=2048)
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="the chip's dense bf16 peak, for the utilisation figure (H100 SXM: 989)")
    parser.add_argument("--quick", action="store_true", help="tiny run to check the script on a CPU")
    parser.add_argument("--out", type=Path, default=benchlib.RESULTS / "gpu.json")
    args = parser.parse_args(argv)
    batches = [4, 8] if args.quick else [int(b) for b in args.batches.split(",")]
    steps, warmup = (3, 2) if args.quick else (args.steps, args.warmup)
    source = benchlib.pair_source(benchlib.synthetic_pairs(256 if args.quick else args.pairs)).cache(progress=False)
    macs = benchlib.macs_per_image(benchlib.build_model("seed"))
    rows = []
    for bf16 in (False, True):
        for batch in batches:
            train = train_img_per_s(source, batch, bf16, warmup, steps)
            predict = predict_img_per_s(source, batch, bf16, 3 if args.quick else 20)
            tflops = train * 3 * 2 * macs / 1e12
            rows.append({"precision": "mixed_bfloat16" if bf16 else "float32", "batch": batch,
                         "train_img_per_s": train, "predict_img_per_s": predict,
                         "train_tflops": tflops, "utilisation_of_bf16_peak": tflops / args.peak_tflops})
            print(f"{rows[-1]['precision']:15s} batch {batch:4d}: train {train:9.1f} img/s "
                  f"({tflops:6.1f} TFLOP/s), predict {predict:9.1f} img/s", flush=True)
    benchlib.write_json(args.out, {**benchlib.header({"config": "seed", "macs_per_image": macs,
                                                      "steps": steps, "warmup": warmup,
                                                      "peak_tflops": args.peak_tflops}),
                                   "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
