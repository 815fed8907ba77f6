"""The toolkit's commands: parse the arguments, load the config, call one stage command."""

import importlib
from pathlib import Path
from typing import Callable

from flexunet.cli.guard import TRAINING_INTERRUPTED, config_command, guarded, parser


def _stage(target: str) -> Callable[[object], object]:
    """The stage command "module:function", imported only when the command runs (so --help and a
    config error never import Keras)."""
    module, _, function = target.partition(":")
    return lambda config: getattr(importlib.import_module(module), function)(config)


def train_main(argv: list[str] | None = None) -> int:
    return config_command("Train the UNet described by a config file.", _stage("flexunet.training.run:run_training"),
                          argv, TRAINING_INTERRUPTED)


def evaluate_main(argv: list[str] | None = None) -> int:
    def evaluate(config):
        from flexunet.evaluation.run import run_evaluation

        run_evaluation(config, "eval")
        if config.test.image_datapath:
            print("\n[test] set:")
            run_evaluation(config, "test")

    return config_command("Evaluate the best model on [eval] (and [test] when set).", evaluate, argv)


def infer_main(argv: list[str] | None = None) -> int:
    return config_command("Segment every image in [infer] images_dir.",
                          _stage("flexunet.inference.run:run_inference"), argv)


def tiled_infer_main(argv: list[str] | None = None) -> int:
    return config_command("Segment large images tile by tile ([tiledinfer]).",
                          _stage("flexunet.inference.run:run_tiled_inference"), argv)


def inspect_main(argv: list[str] | None = None) -> int:
    def inspect(config):
        from flexunet.model.inspect import inspect_model
        from flexunet.model.store import unet_from_section

        inspect_model(unet_from_section(config.model), str(Path(config.base_dir) / "inspection"))

    return config_command("Write the model summary (and graph) to ./inspection.", inspect, argv)


def dataset_main(argv: list[str] | None = None) -> int:
    return config_command("Inspect the [train]/[eval]/[test] image and mask folders.",
                          _stage("flexunet.data.run:run_dataset_inspection"), argv)


def export_main(argv: list[str] | None = None) -> int:
    """flexunet-export [CONFIG] [--output DIR] [--formats keras,savedmodel,onnx] [--no-check] [--debug]."""
    from flexunet.inference.export import EXPORT_DIR, FORMATS

    args_parser = parser("Export the trained best model of a config as .keras, TF SavedModel and ONNX.")
    args_parser.add_argument("--output", metavar="DIR",
                             help=f"folder for the exported files, replaced on each export "
                                  f"(default <[train] model_dir>/{EXPORT_DIR})")
    args_parser.add_argument("--formats", metavar="LIST",
                             help=f"comma-separated formats of {','.join(FORMATS)} (default: all available)")
    args_parser.add_argument("--no-check", action="store_true",
                             help="skip reloading each exported model and comparing it with Keras")
    args = args_parser.parse_args(argv)

    def work():
        from flexunet.config import load_config
        from flexunet.inference.export import run_export

        run_export(load_config(args.config), args.output, args.formats, not args.no_check)

    return guarded(work, args.debug)


def compare_main(argv: list[str] | None = None) -> int:
    """flexunet-compare BASELINE/per_image.csv CANDIDATE/per_image.csv: is the pixel Dice difference real?"""
    args_parser = parser("Paired comparison of two evaluations of the same cells: is the pixel Dice "
                         "difference real?", config_default=None)
    args_parser.add_argument("baseline", help="per_image.csv of the baseline's evaluation")
    args_parser.add_argument("candidate", help="per_image.csv of the candidate's evaluation of the same cells")
    args = args_parser.parse_args(argv)

    def work():
        from flexunet.evaluation.compare import paired_difference, read_per_image, report

        print(report(paired_difference(read_per_image(args.baseline), read_per_image(args.candidate))))

    return guarded(work, args.debug)
