"""Inference overhead: the seed's API as users call it against a bare model.predict of the same images.

python -m bench.infer [--quick] [--repeats 3] [--images 260]

The seed's 31.1 M-parameter UNet ([model] of its config), trained for one epoch by 1.train on the images
(so its masks look like nuclei and drawing and measuring them costs what it costs in use; the speed of
predict does not depend on the weights). Images: the first real 128x128 jpgs (../shared/data) or
synthetic ones; raw cells of any size for tiling (../shared/data/mini_test, or synthetic sizes). In one
process, `unet = TensorflowUNet(config)` and `unet.load_model()` (timed once), then, interleaved:
- bare predict: `unet.model.predict` of the images already read and resized, at batch 8, 16, 32 and 64;
  the best of these is the reference, as a user would pick it;
- `unet.infer()`: read, resize, predict, resize back, masks, overlays, cells.csv and the montage written,
  with the model the object holds (no reload, no new trace);
- the same predictions written without overlays (masks and cells.csv only);
- `unet.infer_tiles()` against `unet.model.predict` of all its tiles at the best batch size.
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
    write_ini,
    write_result,
)
from flexunet.cli.unet_class import TensorflowUNet
from flexunet.data.dataset import resize_image
from flexunet.data.io import list_images, read_image
from flexunet.inference.predict import model_predictor, predict_batch_size
from flexunet.inference.run import Outputs, predict_resized, write_predictions
from flexunet.inference.tiling import pad_to_tile, tile_boxes

BATCHES = (8, 16, 32, 64)
API = "seed API: infer() after load_model()"
MASKS_ONLY = "toolkit masks only"
TILED = "seed API: infer_tiles()"


def linked_pairs(folder: Path, count: int) -> tuple[Path, Path]:
    """images/ and masks/ folders of links to the first `count` real pairs, or of synthetic images (whose
    masks are a dark-blob threshold); made once."""
    images, masks = folder / "images", folder / "masks"
    if (folder / "complete").exists():
        return images, masks
    shutil.rmtree(folder, ignore_errors=True)
    images.mkdir(parents=True)
    masks.mkdir()
    if (REAL_DATA / "images").is_dir():
        for f in list_images(REAL_DATA / "images", "real images")[:count]:
            (images / f.name).symlink_to(f)
            mask = next((REAL_DATA / "masks").glob(f"{f.stem}.*"))
            (masks / mask.name).symlink_to(mask)
    else:
        import cv2

        for f in list_images(synthetic_images(count, [(128, 128)]), "synthetic images")[:count]:
            (images / f.name).symlink_to(f)
            grey = cv2.cvtColor(read_image(f), cv2.COLOR_RGB2GRAY)
            cv2.imwrite(str(masks / f"{f.stem}.png"), np.where(grey < 130, 255, 0).astype(np.uint8))
    (folder / "complete").touch()
    return images, masks


def raw_folder(count: int) -> Path:
    mini = SHARED / "data" / "mini_test"
    if mini.is_dir():
        return mini
    return synthetic_images(count, [(210, 180), (300, 260), (120, 150)])


def seed_project(quick: bool, count: int, raws: Path) -> Path:
    """A project folder whose config is the seed's [model] (a tiny one with --quick), trained one epoch."""
    from flexunet.config import load_config
    from flexunet.training.run import run_training

    work = SCRATCH / f"infer_{'quick' if quick else count}"
    images, masks = linked_pairs(work / "data", count)
    model = seed_model_section(**({"num_layers": 4, "base_filters": 4} if quick else {}))
    config = write_ini(work / "train_eval_infer.config", {
        "model": model,
        "train": {"epochs": 1, "batch_size": 4, "image_datapath": images, "mask_datapath": masks,
                  "model_dir": work / "models", "eval_dir": work / "eval"},
        "infer": {"images_dir": images, "output_dir": work / "out", "merged_dir": work / "merged"},
        "tiledinfer": {"images_dir": raws, "output_dir": work / "tiled", "merged_dir": work / "tiled_merged",
                       "overlapping": 32},
    })
    if not (work / "models" / "best_model.keras").exists():
        run_training(load_config(config), verbose=0)
    return config


def main(argv: list[str] | None = None) -> int:
    args_parser = parser(__doc__.splitlines()[0])
    args_parser.add_argument("--images", type=int, default=260)
    args = args_parser.parse_args(argv)
    count = 24 if args.quick else args.images
    raws = raw_folder(4 if args.quick else 15)
    unet = TensorflowUNet(str(seed_project(args.quick, count, raws)))
    load_seconds = timed(unet.load_model)
    config = unet.config
    files = list_images(config.infer.images_dir, "images")[:count]
    x = np.stack([resize_image(read_image(f), (128, 128)) for f in files]).astype(np.float32)
    tile, overlap, batch = 128, config.tiledinfer.overlapping, predict_batch_size(None, (128, 128))
    raw_files = list_images(raws, "raw cells")
    padded = [pad_to_tile(read_image(f), tile) for f in raw_files]
    tiles = np.stack([image[y:y + tile, x0:x0 + tile] for image in padded
                      for y, x0 in tile_boxes(image.shape[:2], tile, overlap)]).astype(np.float32)
    scratch = SCRATCH / "infer_masks_only"

    def masks_only() -> float:
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        items = predict_resized(files, 3, (128, 128), model_predictor(unet.model), batch)
        return timed(lambda: write_predictions(items, Outputs(scratch, None, unet.rule)))

    def bare(data: np.ndarray, size: int):
        return lambda: timed(lambda: unet.model.predict(data, batch_size=size, verbose=0))

    first = {"infer()": timed(unet.infer)}
    for size in BATCHES:
        bare(x[:size * 2], size)()
    works = {f"bare predict batch {b}": bare(x, b) for b in BATCHES}
    works.update({API: lambda: timed(unet.infer), MASKS_ONLY: masks_only})
    stats = interleaved(works, args.repeats)
    best = min(BATCHES, key=lambda b: stats[f"bare predict batch {b}"]["median"])
    bare_s = stats[f"bare predict batch {best}"]["median"]
    first["infer_tiles()"] = timed(unet.infer_tiles)
    tiled = interleaved({"bare predict of the tiles": bare(tiles, best), TILED: lambda: timed(unet.infer_tiles)},
                        args.repeats)
    ms = {k: 1000 * v["median"] / count for k, v in stats.items()}
    result = {
        "ms_per_image": ms, "best_bare_batch": best, "seconds": stats, "tiled_seconds": tiled,
        "load_model_seconds": load_seconds, "first_call_seconds": first,
        "toolkit_over_bare_predict": {k: v["median"] / bare_s for k, v in stats.items() if not k.startswith("bare")},
        "tiled_over_bare_tiles": tiled[TILED]["median"] / tiled["bare predict of the tiles"]["median"],
        "target": "infer() after load_model() / best bare predict of the same images in the same process <= 1.1; "
                  "tiled / bare predict of its tiles <= 1.3",
    }
    for k, v in ms.items():
        print(f"{k:40s} {v:7.2f} ms/img")
    print(f"load_model(): {load_seconds:.2f} s; first infer(): {first['infer()']:.2f} s")
    print(f"over the bare predict (batch {best}): {result['toolkit_over_bare_predict']}")
    print(f"tiled over bare tiles: {result['tiled_over_bare_tiles']:.3f} "
          f"({len(tiles)} tiles of {len(raw_files)} images)")
    write_result("infer", args, {"images": count, "tiled_images": len(raw_files), "tiles": len(tiles),
                                 "model": "seed (7 levels, 16 filters)" if not args.quick else "tiny",
                                 "predict_batch": batch, "overlap": overlap}, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
