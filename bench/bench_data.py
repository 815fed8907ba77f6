"""Data loading images/s: PairSource streaming load() and cache() (1, 2, 4 threads), batches, a cv2 floor."""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from benchlib import interleaved, timed  # noqa: E402

import cv2  # noqa: E402

from flexunet.data.dataset import SegmentationBatches  # noqa: E402

DETAILS = """\
python bench/bench_data.py [--quick] [--repeats 3] [--out bench/results/data.json]
Synthetic 128x128 jpg pairs with the seed's [mask] options (binarize at 60, blur). The files were
just written, so they are read from the page cache: these are decode-and-prepare rates, not disk rates.
"""
FULL = {"pairs": 2000, "batch": 4}
QUICK = {"pairs": 200, "batch": 4}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, epilog=DETAILS,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 pairs")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, at least 3")
    parser.add_argument("--out", help="JSON path (default bench/results/data[_quick].json)")
    args = parser.parse_args(argv)
    s, repeats = QUICK if args.quick else FULL, max(3, args.repeats)
    result = benchlib.header({**s, "repeats": repeats, "quick": args.quick})
    folder = benchlib.synthetic_pairs(s["pairs"])
    streaming = benchlib.pair_source(folder)
    cached = benchlib.pair_source(folder).cache(progress=False, workers=2)
    n = len(streaming)

    def rate(work) -> float:
        return n / timed(work)

    def load_all():
        for i in range(n):
            streaming.load(i)

    def cache(workers: int):
        return lambda: rate(lambda: benchlib.pair_source(folder).cache(progress=False, workers=workers))

    def batches(source):
        def work():
            data = SegmentationBatches(source, s["batch"], shuffle=True, seed=1)
            for i in range(len(data)):
                data[i]
        return lambda: rate(work)

    def floor():
        for pair in streaming.pairs:
            cv2.imread(str(pair.image))
            cv2.imread(str(pair.mask), cv2.IMREAD_GRAYSCALE)

    runs = interleaved({
        "stream_load": lambda: rate(load_all),
        "cache_1_thread": cache(1),
        "cache_2_threads": cache(2),
        "cache_4_threads": cache(4),
        "batches_streaming": batches(streaming),
        "batches_cached": batches(cached),
        "cv2_imread_floor": lambda: rate(floor),
    }, repeats)
    result["pairs"] = n
    result["images_per_s"] = runs
    result["cached_mib"] = cached.nbytes / 2**20
    result["note"] = ("cache_N_threads is PairSource.cache(workers=N); run_training passes [train] workers "
                      "(default 1). batches_* include building each batch (uint8 images, float32 masks).")
    result["peak_rss_mib"] = benchlib.peak_rss_mib()
    out = Path(args.out) if args.out else benchlib.result_path("data", args.quick)
    benchlib.write_json(out, result)
    print("data images/s (median): " + ", ".join(f"{k} {v['median']:.0f}" for k, v in runs.items())
          + f"; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
