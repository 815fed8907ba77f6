"""GPU throughput: train and predict img/s of the seed's UNet at several batch sizes, fp32 and bf16.

bash .gpu/gpu_env.sh python3 -m bench.gpu --out $OUT/gpu.json   (KERAS_BACKEND=jax on the GPU machine)
Training goes through the toolkit's own input path (cached SegmentationBatches + model.fit), so the
figure includes feeding the data, not only the step.
"""

import sys
import time

import keras
import numpy as np

from bench.common import parser, seed_model_section, write_result
from flexunet.data.dataset import MaskOptions, PairSource, SegmentationBatches
from flexunet.model.compile import compile_unet
from flexunet.model.unet import create_unet


class StepClock(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.stamps: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.stamps.append(time.perf_counter())


def seed_unet(bf16: bool, quick: bool) -> keras.Model:
    m = seed_model_section(**({"num_layers": 4, "base_filters": 4} if quick else {}))
    unet = create_unet((128, 128), 3, 1, m["base_filters"], m["num_layers"], 3, 1, m["dropout_rate"],
                       mixed_precision=bf16)
    return compile_unet(unet, m["loss"], tuple(m["metrics"]), "adam", m["learning_rate"], m["clipvalue"])


def random_source(count: int) -> PairSource:
    rng = np.random.default_rng(0)
    source = PairSource([], (128, 128), 3, MaskOptions())
    source.images = rng.integers(0, 255, (count, 128, 128, 3), dtype=np.uint8)
    source.masks = np.where(rng.random((count, 128, 128)) > 0.8, 255, 0).astype(np.uint8)
    source.pairs = [None] * count
    return source


def main(argv: list[str] | None = None) -> int:
    args_parser = parser(__doc__.splitlines()[0], repeats=1)
    args_parser.add_argument("--batches", default="4,32,128")
    args_parser.add_argument("--steps", type=int, default=40)
    args = args_parser.parse_args(argv)
    batches = [4, 8] if args.quick else [int(b) for b in args.batches.split(",")]
    steps, warmup = (3, 2) if args.quick else (args.steps, 5)
    source = random_source(256 if args.quick else 2048)
    rows = []
    for bf16 in (False, True):
        for batch in batches:
            model, clock = seed_unet(bf16, args.quick), StepClock()
            data = SegmentationBatches(source, batch, shuffle=True, seed=1, workers=4, steps=warmup + steps)
            model.fit(data, epochs=1, shuffle=False, verbose=0, callbacks=[clock])
            train = steps * batch / (clock.stamps[-1] - clock.stamps[warmup - 1])
            x = source.images[:batch]
            model.predict_on_batch(x)
            start = time.perf_counter()
            for _ in range(3 if args.quick else 20):
                keras.ops.convert_to_numpy(model.predict_on_batch(x))
            predict = (3 if args.quick else 20) * batch / (time.perf_counter() - start)
            rows.append({"precision": "mixed_bfloat16" if bf16 else "float32", "batch": batch,
                         "train_img_per_s": train, "predict_img_per_s": predict})
            print(f"{rows[-1]['precision']:15s} batch {batch:4d}: train {train:9.1f} img/s, predict "
                  f"{predict:9.1f} img/s", flush=True)
    write_result("gpu", args, {"model": "seed", "steps": steps, "warmup": warmup}, {"rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
