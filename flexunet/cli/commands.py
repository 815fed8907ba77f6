"""The toolkit's commands: parse the arguments, load the config, call one stage command."""

from pathlib import Path

from flexunet.cli.guard import TRAINING_INTERRUPTED, config_command, guarded, parser
from flexunet.config import Config

# Each stage is imported inside its command, so --help and a config error never import Keras.


def train(config: Config) -> None:
    from flexunet.training.run import run_training

    run_training(config)


def infer(config: Config) -> None:
    from flexunet.inference.run import run_inference

    run_inference(config)


def tiled_infer(config: Config) -> None:
    from flexunet.inference.tiled import run_tiled_inference

    run_tiled_inference(config)


def inspect_dataset(config: Config) -> None:
    from flexunet.data.run import run_dataset_inspection

    run_dataset_inspection(config)


def infer_many(config: Config) -> None:
    """Every image or slide of [tiledinfer] images_dir through the model on [cluster] workers (Dask), each into
    its own folder of [cluster] output_dir; a restart skips what is done."""
    from flexunet.fsutil import prepare_output_dir
    from flexunet.inference.distributed import run_many
    from flexunet.inference.jobs import TiledInferenceJob
    from flexunet.inference.run import list_inputs

    c = config.cluster
    images_dir = config.require("tiledinfer", "images_dir", "for inference over many slides")
    files = list_inputs(images_dir, config.where("tiledinfer", "images_dir"))
    out = prepare_output_dir(c.output_dir, config.where("cluster", "output_dir"),
                             config.protected_folders("cluster output_dir"), keep=True)
    summary = run_many(files, TiledInferenceJob(config.source), out, c.scheduler, c.workers, c.retries)
    failed = "".join(f"\n  failed: {item}: {message}" for item, message in summary.failed)
    print(f"{len(summary.done)} done, {len(summary.skipped)} already done, {len(summary.failed)} failed of "
          f"{summary.items} in {summary.seconds:.0f} s; {int(summary.totals.get('cells', 0))} cells; {out}{failed}")


def train_main(argv: list[str] | None = None) -> int:
    return config_command("Train the UNet described by a config file.", train, argv, TRAINING_INTERRUPTED)


def evaluate(config: Config) -> None:
    """[eval], then [test] when set, with the model loaded once."""
    from flexunet.evaluation.run import run_evaluation
    from flexunet.model.store import load_trained

    trained = load_trained(config, compile_model=True)
    run_evaluation(config, "eval", trained)
    if config.test.image_datapath:
        print("\n[test] set:")
        run_evaluation(config, "test", trained)


def evaluate_main(argv: list[str] | None = None) -> int:
    return config_command("Evaluate the best model on [eval] (and [test] when set).", evaluate, argv)


def infer_main(argv: list[str] | None = None) -> int:
    return config_command("Segment every image in [infer] images_dir.", infer, argv)


def tiled_infer_main(argv: list[str] | None = None) -> int:
    return config_command("Segment large images tile by tile ([tiledinfer]).", tiled_infer, argv)


def infer_many_main(argv: list[str] | None = None) -> int:
    return config_command("Segment every image or slide of [tiledinfer] images_dir on many workers ([cluster]).",
                          infer_many, argv)


def inspect_main(argv: list[str] | None = None) -> int:
    def inspect(config):
        from flexunet.data.outputs import INSPECTION_DIR
        from flexunet.model.inspect import inspect_model
        from flexunet.model.store import unet_from_section

        inspect_model(unet_from_section(config.model), str(Path(config.base_dir) / INSPECTION_DIR))

    return config_command("Write the model summary (and graph) to ./inspection.", inspect, argv)


def dataset_main(argv: list[str] | None = None) -> int:
    return config_command("Inspect the [train]/[eval]/[test] image and mask folders.", inspect_dataset, argv)


def export_main(argv: list[str] | None = None) -> int:
    """flexunet-export [CONFIG] [--output DIR] [--formats keras,savedmodel,onnx] [--no-check] [--debug]."""
    from flexunet.inference.export import FORMATS
    from flexunet.inference.outputs import EXPORT_DIR

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
