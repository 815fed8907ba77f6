"""Inference overhead: 3.infer's work with the model loaded against a bare model.predict of the same images.

python -m bench.infer [--quick] [--repeats 3] [--images 260]

The seed's 31.1 M-parameter UNet, trained for one epoch on the images (so its masks look like nuclei
and drawing and measuring them costs what it costs in use; the speed of predict does not depend on the
weights). Images: the first real 128x128 jpgs (../shared/data) or synthetic ones (then the model stays
untrained); raw cells of any size for tiling (../shared/data/mini_test, or synthetic sizes). Timed,
interleaved, in one process:
- bare predict: keras model.predict on the images already read and resized, at batch 8, 16, 32 and 64;
  the best of these is the reference, as a user would pick it;
- toolkit: what 3.infer does after loading the model (read, resize, predict, resize back, masks,
  overlays and the montage written), and the same without overlays;
- tiled: 4.tiled_infer's work against model.predict of all its tiles at the best batch size.
"""

import shutil
import sys
from pathlib import Path

import numpy as np

from bench.common import (
    REAL_DATA,
    SCRATCH,
    SHARED,
    interleaved,
    parser,
    seed_model_section,
    synthetic_images,
    timed,
    write_result,
)
from flexunet.data.dataset import resize_image
from flexunet.data.io import list_images, read_image
from flexunet.inference.postprocess import MaskRule
from flexunet.inference.predict import model_predictor, predict_batch_size
from flexunet.inference.run import Outputs, predict_resized, predict_tiles, write_predictions
from flexunet.inference.tiling import pad_to_tile, tile_boxes

BATCHES = (8, 16, 32, 64)


def model(quick: bool, count: int):
    """The seed's UNet (a tiny one with --quick), trained one epoch on the first `count` real pairs."""
    from flexunet.data.dataset import MaskOptions, PairSource, SegmentationBatches
    from flexunet.data.pairs import pair_files
    from flexunet.model.compile import compile_unet
    from flexunet.model.unet import create_unet

    m = seed_model_section(**({"num_layers": 4, "base_filters": 4} if quick else {}))
    unet = create_unet((128, 128), 3, 1, m["base_filters"], m["num_layers"], 3, 1, m["dropout_rate"])
    compile_unet(unet, m["loss"], tuple(m["metrics"]), "adam", m["learning_rate"], m["clipvalue"])
    if (REAL_DATA / "images").is_dir():
        pairs = pair_files(REAL_DATA / "images", REAL_DATA / "masks", "images", "masks")[:count]
        source = PairSource(pairs, (128, 128), 3, MaskOptions()).cache(progress=False)
        unet.fit(SegmentationBatches(source, 4, shuffle=True), epochs=1, verbose=0)
    return unet


def image_files(count: int) -> list[Path]:
    if (REAL_DATA / "images").is_dir():
        return list_images(REAL_DATA / "images", "real images")[:count]
    return list_images(synthetic_images(count, [(128, 128)]), "synthetic images")[:count]


def raw_files(count: int) -> list[Path]:
    mini = SHARED / "data" / "mini_test"
    if mini.is_dir():
        return list_images(mini, "mini_test")[:count]
    return list_images(synthetic_images(count, [(210, 180), (300, 260), (120, 150)]), "synthetic raw cells")


def main(argv: list[str] | None = None) -> int:
    args_parser = parser(__doc__.splitlines()[0])
    args_parser.add_argument("--images", type=int, default=260)
    args = args_parser.parse_args(argv)
    count = 24 if args.quick else args.images
    unet = model(args.quick, count)
    files, raws = image_files(count), raw_files(4 if args.quick else 15)
    x = np.stack([resize_image(read_image(f), (128, 128)) for f in files]).astype(np.float32)
    predict = model_predictor(unet)
    out = SCRATCH / "infer_out"
    tile, overlap, batch = 128, 32, predict_batch_size(None, (128, 128))
    padded = [pad_to_tile(read_image(f), tile) for f in raws]
    tiles = np.stack([image[y:y + tile, x0:x0 + tile] for image in padded
                      for y, x0 in tile_boxes(image.shape[:2], tile, overlap)]).astype(np.float32)

    def toolkit(merged: bool, tiled: bool = False):
        def work():
            shutil.rmtree(out, ignore_errors=True)
            (out / "masks").mkdir(parents=True)
            (out / "merged").mkdir()
            items = (predict_tiles(raws, 3, tile, overlap, predict, batch) if tiled
                     else predict_resized(files, 3, (128, 128), predict, batch))
            return timed(lambda: write_predictions(items, Outputs(out / "masks", out / "merged" if merged else None,
                                                                  MaskRule())))
        return work

    def bare(data: np.ndarray, size: int):
        return lambda: timed(lambda: unet.predict(data, batch_size=size, verbose=0))

    for size in BATCHES:
        bare(x[:size * 2], size)()
    toolkit(True)()
    works = {f"bare predict batch {b}": bare(x, b) for b in BATCHES}
    works.update({"toolkit masks + overlays + montage": toolkit(True), "toolkit masks only": toolkit(False)})
    stats = interleaved(works, args.repeats)
    best = min(BATCHES, key=lambda b: stats[f"bare predict batch {b}"]["median"])
    bare_s = stats[f"bare predict batch {best}"]["median"]
    tiled = interleaved({"bare predict of the tiles": bare(tiles, best),
                         "toolkit tiled masks + overlays + montage": toolkit(True, tiled=True)}, args.repeats)
    ms = {k: 1000 * v["median"] / count for k, v in stats.items()}
    result = {
        "ms_per_image": ms, "best_bare_batch": best, "seconds": stats, "tiled_seconds": tiled,
        "toolkit_over_bare_predict": {k: v["median"] / bare_s for k, v in stats.items() if k.startswith("toolkit")},
        "tiled_over_bare_tiles": tiled["toolkit tiled masks + overlays + montage"]["median"]
        / tiled["bare predict of the tiles"]["median"],
        "target": "toolkit / best bare predict <= 1.3, tiled / bare predict of its tiles <= 1.3",
    }
    for k, v in ms.items():
        print(f"{k:40s} {v:7.2f} ms/img")
    print(f"toolkit over bare predict (batch {best}): {result['toolkit_over_bare_predict']}")
    print(f"tiled over bare tiles: {result['tiled_over_bare_tiles']:.3f} ({len(tiles)} tiles of {len(raws)} images)")
    write_result("infer", args, {"images": count, "tiled_images": len(raws), "tiles": len(tiles),
                                 "model": "seed (7 levels, 16 filters)" if not args.quick else "tiny",
                                 "predict_batch": batch, "overlap": overlap}, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
