"""The dataset inspector command: each configured split's statistics, CSVs and pictures in ./inspection."""

from pathlib import Path

import numpy as np

from flexunet import plots
from flexunet.config import Config
from flexunet.data.inspect import describe_objects, inspect_split
from flexunet.data.outputs import COUNTS_PNG, INSPECTION_DIR, coverage_png, dataset_csv, samples_png
from flexunet.errors import DataError
from flexunet.fsutil import atomic_write_text, prepare_output_dir


def run_dataset_inspection(config: Config) -> dict:
    """Inspect each configured split; write inspection/dataset_*.csv, stats and sample PNGs."""
    out = prepare_output_dir(Path(config.base_dir) / INSPECTION_DIR, "inspection folder", keep=True)
    results = {}
    for section in ("train", "eval", "test"):
        s = getattr(config, section)
        if not (s.image_datapath and s.mask_datapath):
            continue
        r = inspect_split(s.image_datapath, s.mask_datapath, config.mask.threshold)
        results[section] = r
        cov = np.array(r["coverage"]) if r["coverage"] else np.zeros(1)
        print(f"[{section}] {r['pairs']} pairs from {r['source_cells']} source cells; sizes "
              f"{r['sizes']}; nucleus coverage mean {cov.mean():.3f} (min {cov.min():.3f}, max "
              f"{cov.max():.3f}); empty masks {r['empty_masks']}; {describe_objects(r)}")
        for problem in r["problems"]:
            print(f"  problem: {problem}")
        several = sum(c > 1 for c in r["objects"])
        if several and config.postprocess.keep_largest is True:
            print(f"warning: {config.where('postprocess', 'keep_largest')}: True keeps one object per image, but "
                  f"{several} of the {len(r['objects'])} [{section}] masks hold several; set it to \"auto\" "
                  "(validation decides) or False")
        atomic_write_text(out / dataset_csv(section),
                          "file,source_cell,width,height,coverage,objects\n" + "\n".join(r["rows"]) + "\n")
        if r["samples"]:
            imgs, masks = zip(*r["samples"])
            plots.image_grid(out / samples_png(section), [list(imgs), list(masks)],
                             [f"{section}/images", f"{section}/masks"])
        plots.histogram(out / coverage_png(section), r["coverage"],
                        "nucleus fraction of the image", f"[{section}] mask coverage")
    if not results:
        raise DataError(f"{config.source}: no [train], [eval] or [test] image_datapath/mask_datapath set")
    labels = list(results)
    plots.bar_chart(out / COUNTS_PNG, labels, [results[k]["pairs"] for k in labels],
                    "image-mask pairs", "Pairs per split")
    print(f"Wrote dataset statistics and samples to {out}")
    return results
