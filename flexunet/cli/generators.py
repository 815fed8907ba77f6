"""The generator commands: the dataset generator, split_master and the synthetic raw cells (no Keras import)."""

import argparse
from collections.abc import Callable

from flexunet.cli.guard import guarded
from flexunet.cli.guard import parser as command_parser
from flexunet.generators.config import DEFAULT_CONFIG
from flexunet.generators.split import DEFAULT_SEED, MODES, SEED_RATIOS

DEFAULT_SPLIT_INPUT = "./Smear2005-master/severe_dysplastic"
DEFAULT_SPLIT_OUTPUT = "./Pap-Smear/severe_dysplastic"
DEFAULT_SYNTH_OUTPUT = "./New database pictures"


def _run(work: Callable[[], object], debug: bool, what: str) -> int:
    """guarded(work) with an interrupt line that fits these commands (exit 130 on Ctrl-C)."""
    return guarded(work, debug, f"interrupted: {what} is incomplete; run the command again")


def generate_main(argv: list[str] | None = None) -> int:
    """ImageMaskDatasetGenerator: raw Herlev folders -> <output_dir>/<class>/{images,masks}."""
    parser = command_parser("Make 13 square image/mask copies of every raw Herlev cell.", DEFAULT_CONFIG,
                            "generator config file")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)

    def work():
        from flexunet.generators.config import load_generator_config
        from flexunet.generators.dataset_generator import generate

        config = load_generator_config(args.config)
        g = config.generator
        result = generate(g.base_dir, g.output_dir, g.resize, g.cropsize, g.seamless_cloning,
                          config.mask_colors, progress=not args.no_progress, targets=g.targets)
        for name, counts in result["classes"].items():
            print(f"{name}: {counts['cells']} cells -> {counts['files']} image/mask pairs")
        print(f"Wrote {result['output_dir']} ({result['cells']} cells, {result['skipped']} skipped, "
              f"{result['seconds_per_cell'] * 1000:.1f} ms per cell)")

    return _run(work, args.debug, "the generated dataset")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def split_main(argv: list[str] | None = None) -> int:
    """split_master: <input>/{images,masks} -> <output>/{train,valid,test}/{images,masks}; or --check."""
    parser = command_parser("Split a master dataset into train/valid/test by source cell.", None)
    parser.add_argument("--classes", nargs="+", default=None, metavar="CLASS",
                        help="with an --input of class folders: only these (default: every class folder)")
    parser.add_argument("--input", default=DEFAULT_SPLIT_INPUT, help=f"folder with images/ and masks/, or a "
                        f"master folder of class folders (split class by class, classes.csv written) "
                        f"(default {DEFAULT_SPLIT_INPUT})")
    parser.add_argument("--output", default=DEFAULT_SPLIT_OUTPUT,
                        help=f"folder for train/valid/test (default {DEFAULT_SPLIT_OUTPUT})")
    parser.add_argument("--mode", choices=MODES, default="grouped",
                        help="grouped: whole source cells per split (default); "
                             "random: the seed's per-file shuffle")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"shuffle seed (default {DEFAULT_SEED})")
    parser.add_argument("--ratios", type=_number, nargs=3, default=list(SEED_RATIOS),
                        metavar=("TRAIN", "VALID", "TEST"),
                        help="fractions of the files (default 0.8 0.15 0.05)")
    parser.add_argument("--force", action="store_true", help="move a non-empty output folder to *_bak first")
    parser.add_argument("--check", metavar="DIR", help="only report source cells shared between the splits in DIR")
    args = parser.parse_args(argv)

    def work():
        from flexunet.generators.split import check_split, split_master

        if args.check:
            check_split(args.check)
            return
        split_master(args.input, args.output, args.mode, args.seed, args.ratios, args.force, classes=args.classes)
        shared = check_split(args.output, verbose=False)["shared_cells"]
        print(f"source cells shared between splits: {shared}")

    return _run(work, args.debug, "the split")


def synth_main(argv: list[str] | None = None) -> int:
    """Write synthetic raw Herlev cells (NAME.BMP + palette NAME-d.bmp), or with --fields synthetic fields of
    view (several cells per image) split into train/valid/test, for demos and tests."""
    from flexunet.generators.herlev import CLASSES

    parser = command_parser("Draw synthetic raw Herlev cells, or fields of view with several cells.", None)
    parser.add_argument("--output", default=None,
                        help=f"output folder (default {DEFAULT_SYNTH_OUTPUT}, with --fields ./fields)")
    parser.add_argument("--fields", action="store_true",
                        help="draw fields of view (train 30, valid 5, test 10 PNG image/mask pairs) instead")
    parser.add_argument("--size", type=int, default=512, help="side of a field in pixels (default 512)")
    parser.add_argument("--grey", choices=("yes", "no"), default="yes", help="grey fields (default) or RGB")
    parser.add_argument("--per-class", type=int, default=20, help="cells per class (default 20)")
    parser.add_argument("--classes", nargs="+", choices=CLASSES, default=list(CLASSES),
                        help="class folders to fill (default all seven)")
    parser.add_argument("--seed", type=int, default=0, help="drawing seed (default 0)")
    args = parser.parse_args(argv)

    def work():
        from flexunet.generators.fields import write_fields
        from flexunet.generators.synthetic import write_raw_dataset

        if args.fields:
            result = write_fields(args.output or "./fields", size=args.size, seed=args.seed, grey=args.grey == "yes")
            low, high = result["objects_per_field"]
            print(f"Wrote fields of view ({result['counts']}) of {args.size} px to {result['output_dir']}: "
                  f"{low} to {high} nuclei each, nucleus coverage {100 * result['nucleus_coverage']:.2f} %")
            return
        result = write_raw_dataset(args.output or DEFAULT_SYNTH_OUTPUT, {c: args.per_class for c in args.classes},
                                   args.seed)
        print(f"Wrote {result['total']} synthetic cells ({result['with_grey']} with grey pixels) "
              f"to {result['output_dir']} in {result['seconds']:.1f} s")

    return _run(work, args.debug, "the synthetic dataset")
