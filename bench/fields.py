"""Your own images: synthetic fields of view (several cells each, nuclei about 0.7 % of the pixels) and the
shipped CPU config with only its paths and image size changed.

python -m bench.fields [--quick] [--size 512] [--seed 0] [--variant SECTION.KEY=VALUE ... --out FILE]
Draws 30 training, 5 validation and 10 test fields, trains the CPU config on them (clean-up chosen on the
validation fields), scores the 10 unseen test fields, and scores the same model again with keep_largest
= True (the old default) to show what one-object clean-up costs on several cells per image. Each --variant
changes one more key of the config (e.g. train.batch_size=4); write such a run to its own --out file.
"""

import dataclasses
import sys
from pathlib import Path

from bench.common import ROOT, SCRATCH, add_overrides, parser, write_result
from flexunet.config import load_config
from flexunet.config.edit import write_variant
from flexunet.generators.fields import write_fields

CPU_CONFIG = ROOT / "projects" / "Pap-Smear" / "cpu_train_eval_infer.config"


def fields_config(folder, size: int, quick: bool, variants: tuple[str, ...] = (), recipe: Path = CPU_CONFIG,
                  tag: str = ""):
    """A config (default the shipped CPU one) reading the fields in folder/fields with only its paths and image
    size changed (and, --quick, a tiny model for a smoke test), then each SECTION.KEY=VALUE of `variants`; the
    config and its outputs in folder/<tag>."""
    data = {s: {k: f'"{folder / "fields" / s / k}"' for k in ("images", "masks")} for s in ("train", "valid", "test")}
    own = folder / tag
    keys = {"model": {"image_width": str(size), "image_height": str(size)},
            "train": {"image_datapath": data["train"]["images"], "mask_datapath": data["train"]["masks"],
                      "model_dir": f'"{own / "models"}"', "eval_dir": f'"{own / "eval"}"'},
            "eval": {"image_datapath": data["valid"]["images"], "mask_datapath": data["valid"]["masks"],
                     "output_dir": f'"{own / "eval_output"}"'},
            "test": {"image_datapath": data["test"]["images"], "mask_datapath": data["test"]["masks"],
                     "output_dir": f'"{own / "test_eval_output"}"'}}
    if quick:
        keys["model"].update(base_filters="4", num_layers="3")
        keys["train"].update(epochs="2")
    add_overrides(keys, variants)
    return load_config(write_variant(recipe, own / "train_eval_infer.config", keys, drop=("infer", "tiledinfer")))


def main(argv: list[str] | None = None) -> int:
    from flexunet.evaluation.run import run_evaluation
    from flexunet.training.run import run_training

    args_parser = parser(__doc__.splitlines()[0], repeats=1)
    args_parser.add_argument("--size", type=int, default=512)
    args_parser.add_argument("--seed", type=int, default=0)
    args_parser.add_argument("--variant", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = args_parser.parse_args(argv)
    size = 64 if args.quick else args.size
    run = ["run", *([f"seed{args.seed}"] if args.seed else []), *args.variant]
    folder = SCRATCH / f"fields_{size}" / "_".join(run).replace("=", "-")
    drawn = write_fields(folder / "fields", size=size, seed=args.seed)
    config = fields_config(folder, size, args.quick, tuple(args.variant))
    info = run_training(config, verbose=2)
    chosen = run_evaluation(config, "test")
    forced = dataclasses.replace(config, postprocess=dataclasses.replace(config.postprocess, keep_largest=True))
    forced = dataclasses.replace(forced, test=dataclasses.replace(config.test, output_dir=str(folder / "forced")))
    largest = run_evaluation(forced, "test")
    keys = ("pixel_dice", "pixel_dice_ci95_low", "pixel_dice_ci95_high", "pixel_iou", "mean_dice", "threshold",
            "keep_largest", "fill_holes", "cells_true", "cells_found")
    result = {"fields": drawn, "training": info.to_dict(),
              "test_chosen_on_validation": {k: chosen[k] for k in keys},
              "test_keep_largest_true": {k: largest[k] for k in keys},
              "target": "held-out nucleus pixel Dice >= 0.90 with the clean-up chosen on validation"}
    print(f"fields of view ({size} px): held-out pixel Dice {chosen['pixel_dice']:.4f} with the clean-up chosen on "
          f"validation (keep_largest {chosen['keep_largest']}, fill_holes {chosen['fill_holes']}); "
          f"{largest['pixel_dice']:.4f} with keep_largest = True")
    write_result("fields", args, {"size": size, "seed": args.seed, "config": str(CPU_CONFIG),
                                  "changed": ", ".join(["paths and image size", *args.variant]),
                                  "variants": args.variant}, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
