"""Cell by cell on fields of view: the shipped all-classes config (cells head, its split chosen on validation)
beside today's distance split and the nucleus-only CPU config, on the same synthetic overlapping fields.

python -m bench.cells [--quick] [--size 512] [--seed 2504] [--variant SECTION.KEY=VALUE ... --out FILE]

Draws 30 training, 5 validation and 10 test fields with the seed (2504: drawn at random for this benchmark
after every choice, used for none; its predecessors were each run once and then seen: 2027 before the
nucleus decoder and the nucleus ring chosen on validation, 4049 before BatchNormalization's momentum of
0.9 and the split chosen on validation, whose need its training curves and test rows showed, 2169 before
the reducer's patience of 8, whose need its training curve showed (its cells run was stopped there); the
development fields are seed 0), and trains on them, each with only its paths and image size changed:
- cells: projects/Pap-Smear/all_classes_train_eval_infer.config (head = "cells");
- softmax: bench/recipes/all_classes_softmax.config, the all-classes recipe before the cells head (a softmax
  over background, cytoplasm and nucleus; cells split from their nuclei by distance);
- binary: projects/Pap-Smear/cpu_train_eval_infer.config (nucleus only).
Each is evaluated on the 10 test fields (pixel Dice per class; per cell: ISBI 2014 whole-cell and nucleus
Dice, FNo, TPp, FPp, nucleus detection, AJI, N/C and nucleus-area errors against the annotation's cells);
the cells model (its cells split as its validation chose) is scored three times more: its cells parted at
their outlines, split by distance, and parted at their outlines without giving overlaps to both cells.
"""

import sys
import time
from dataclasses import replace

from bench.common import ROOT, SCRATCH, parser, write_result
from bench.fields import CPU_CONFIG, fields_config
from flexunet.generators.fields import write_fields

CELLS_CONFIG = ROOT / "projects" / "Pap-Smear" / "all_classes_train_eval_infer.config"
SOFTMAX_RECIPE = ROOT / "bench" / "recipes" / "all_classes_softmax.config"
RECIPES = {"cells": CELLS_CONFIG, "softmax": SOFTMAX_RECIPE, "binary": CPU_CONFIG}
SEED = 2504
PIXEL_KEYS = ("pixel_dice", "pixel_dice_nucleus", "pixel_dice_nucleus_ci95_low", "pixel_dice_nucleus_ci95_high",
              "pixel_dice_cytoplasm", "pixel_dice_ci95_low", "pixel_dice_ci95_high", "cells_true", "cells_found")


def split_scores(config, split: str, overlaps: bool = True) -> dict:
    """The trained cells model's per-cell scores on [test] with its cells split `split` ("outline" or
    "distance"), overlaps shared (or not)."""
    from flexunet.data.cells import truth_cells
    from flexunet.data.sources import Folders, folder_source, sample_spec
    from flexunet.evaluation.cell_scores import evaluate_cells
    from flexunet.inference import cells as cell_building
    from flexunet.inference.predict import batched, postprocess_predictor, predict_batch_size
    from flexunet.model.store import load_trained

    trained = load_trained(config)
    maker = replace(cell_building.cell_maker(trained.record, config.model, config.postprocess), split=split)
    source = folder_source(Folders(*config.folders("test", "test")), sample_spec(config.model, config.mask, False))
    source.cache(progress=False)
    probs = batched(postprocess_predictor(trained.model, config.postprocess), source.images,
                    predict_batch_size(None, config.model.input_size))
    if not overlaps:
        probs = probs.copy()
        probs[..., 3] = 0.0
    preds = [maker.cells(p) for p in probs]
    truths = truth_cells(source.pairs, config.model.input_size)
    names = [p.image.name for p in source.pairs]
    return evaluate_cells(names, truths, preds, config.model.input_size).summary


def train_and_score(name: str, config) -> dict:
    from flexunet.evaluation.run import run_evaluation
    from flexunet.training.run import run_training

    started = time.perf_counter()
    record = run_training(config, verbose=2)
    seconds = time.perf_counter() - started
    scores = run_evaluation(config, "test")
    return {"recipe": str(RECIPES[name].relative_to(ROOT)), "training": record.to_dict(), "train_seconds": seconds,
            "pixel": {k: scores[k] for k in PIXEL_KEYS if k in scores},
            "cells": {k: v for k, v in scores.items() if k in CELL_KEYS}}


CELL_KEYS = ("truth_cells", "pred_cells", "good_cells", "cell_dice", "cell_dice_all", "cell_fno", "cell_tpp",
             "cell_fpp", "aji_cell", "truth_nuclei", "pred_nuclei", "nuclei_detected", "nucleus_dice",
             "nucleus_dice_all", "nucleus_fno", "nucleus_precision", "nucleus_recall", "nuclei_ratio", "aji_nucleus",
             "nc_ratio_median_relative_error", "nc_ratio_mean_relative_error", "nc_ratio_cells",
             "nucleus_area_median_relative_error", "nucleus_area_mean_relative_error", "nucleus_area_cells")


def main(argv: list[str] | None = None) -> int:
    args_parser = parser(__doc__.splitlines()[0], repeats=1)
    args_parser.add_argument("--size", type=int, default=512)
    args_parser.add_argument("--seed", type=int, default=SEED)
    args_parser.add_argument("--only", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    args_parser.add_argument("--variant", action="append", default=[], metavar="SECTION.KEY=VALUE",
                             help="a key changed in the cells config only")
    args = args_parser.parse_args(argv)
    size = 64 if args.quick else args.size
    folder = SCRATCH / f"cells_{size}_seed{args.seed}" / "_".join(["run", *args.variant]).replace("=", "-")
    counts = {"train": 4, "valid": 2, "test": 2} if args.quick else None
    drawn = write_fields(folder / "fields", counts, size=size, seed=args.seed)
    results = {}
    for name in args.only:
        variants = tuple(args.variant) if name == "cells" else ()
        config = fields_config(folder, size, args.quick, variants, RECIPES[name], tag=name)
        results[name] = train_and_score(name, config)
        if name == "cells":
            results["cells"]["outline_split"] = split_scores(config, "outline")
            results["cells"]["distance_split"] = split_scores(config, "distance")
            results["cells"]["outline_split_without_overlaps"] = split_scores(config, "outline", overlaps=False)
        print(f"{name}: {results[name]['pixel']} {results[name]['cells']}", flush=True)
    write_result("cells", args, {"size": size, "seed": args.seed, "fields": drawn,
                                 "changed": ", ".join(["paths and image size", *args.variant])},
                 {"models": results, "targets": TARGETS})
    return 0


TARGETS = {"cell_dice": ">= 0.90", "cell_fno": "<= 0.10", "nucleus_dice": ">= 0.92",
           "nc_ratio_median_relative_error": "<= 0.10", "nuclei_ratio": "<= 1.05",
           "pixel_dice_nucleus": "within 0.01 of the binary config's pixel Dice"}


if __name__ == "__main__":
    sys.exit(main())
