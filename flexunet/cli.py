"""Command-line entry points: parse args, load the config, call one function, exit cleanly."""

import argparse
import os
import sys
import traceback
from typing import Callable

from flexunet.errors import FlexUNetError
from flexunet.quiet import native_log_filter

DEFAULT_CONFIG = "./train_eval_infer.config"


def _parser(description: str, config_help: str = "config file") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG,
                        help=f"{config_help} (default {DEFAULT_CONFIG})")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    return parser


TRAINING_INTERRUPTED = ("interrupted: the last completed epoch and the best model are saved "
                        "(set [train] resume = True to continue)")


def guarded(work: Callable[[], object], debug: bool, interrupted: str = "interrupted") -> int:
    """Run work(); map failures to one line on stderr and an exit code (1 error, 130 Ctrl-C).

    TensorFlow's native start-up log lines are filtered out unless `debug`.
    """
    debug = debug or os.environ.get("FLEXUNET_DEBUG") == "1"
    with native_log_filter(enabled=not debug):
        return _guarded(work, debug, interrupted)


def _guarded(work: Callable[[], object], debug: bool, interrupted: str) -> int:
    try:
        work()
        return 0
    except KeyboardInterrupt:
        print(f"\n{interrupted}", file=sys.stderr)
        return 130
    except FlexUNetError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the CLI turns any failure into one line
        if debug:
            traceback.print_exc()
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"error: {type(exc).__name__}: {text} (run with --debug for the traceback)", file=sys.stderr)
        return 1


def config_command(description: str, action: Callable, argv: list[str] | None = None,
                   interrupted: str = "interrupted") -> int:
    """Parse [CONFIG] [--debug], load the config, and call action(config)."""
    args = _parser(description).parse_args(argv)

    def work():
        from flexunet.config import load_config

        action(load_config(args.config))

    return guarded(work, args.debug, interrupted)


def train_main(argv: list[str] | None = None) -> int:
    def train(config):
        from flexunet.train import run_training

        run_training(config)

    return config_command("Train the UNet described by a config file.", train, argv, TRAINING_INTERRUPTED)


def evaluate_main(argv: list[str] | None = None) -> int:
    def evaluate(config):
        from flexunet.evaluate import run_evaluation

        run_evaluation(config, "eval")
        if config.test.image_datapath:
            print("\n[test] set:")
            run_evaluation(config, "test")

    return config_command("Evaluate the best model on [eval] (and [test] when set).", evaluate, argv)


def infer_main(argv: list[str] | None = None) -> int:
    def infer(config):
        from flexunet.infer import run_inference

        run_inference(config)

    return config_command("Segment every image in [infer] images_dir.", infer, argv)


def tiled_infer_main(argv: list[str] | None = None) -> int:
    def tiled(config):
        from flexunet.infer import run_tiled_inference

        run_tiled_inference(config)

    return config_command("Segment large images tile by tile ([tiledinfer]).", tiled, argv)


def inspect_main(argv: list[str] | None = None) -> int:
    def inspect(config):
        from pathlib import Path

        from flexunet.inspect_model import inspect_model
        from flexunet.modelio import unet_from_section

        inspect_model(unet_from_section(config.model), str(Path(config.base_dir) / "inspection"))

    return config_command("Write the model summary (and graph) to ./inspection.", inspect, argv)


def dataset_main(argv: list[str] | None = None) -> int:
    def inspect(config):
        from flexunet.data.inspect import run_dataset_inspection

        run_dataset_inspection(config)

    return config_command("Inspect the [train]/[eval]/[test] image and mask folders.", inspect, argv)
