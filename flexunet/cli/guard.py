"""The command layer's common part: the process set-up, the [CONFIG] [--debug] parser, and one error line."""

import argparse
import os
import sys
import traceback
from collections.abc import Callable

from flexunet.cli.quiet import native_log_filter
from flexunet.errors import FlexUNetError

DEFAULT_CONFIG = "./train_eval_infer.config"
TRAINING_INTERRUPTED = ("interrupted: the last completed epoch and the best model are saved "
                        "(set [train] resume = True to continue)")


def prepare_process() -> None:
    """What a command sets for its whole process (library modules set nothing when imported): quiet
    TensorFlow start-up logs, and Pillow's pixel limit raised to the toolkit's (20,000 x 20,000)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from PIL import Image

    from flexunet.data.io import MAX_IMAGE_PIXELS

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


def parser(description: str, config_default: str | None = DEFAULT_CONFIG,
           config_help: str = "config file") -> argparse.ArgumentParser:
    """An argument parser with --debug, and a positional CONFIG unless config_default is None."""
    parsed = argparse.ArgumentParser(description=description)
    if config_default is not None:
        parsed.add_argument("config", nargs="?", default=config_default,
                            help=f"{config_help} (default {config_default})")
    parsed.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    return parsed


def guarded(work: Callable[[], object], debug: bool, interrupted: str = "interrupted") -> int:
    """Run work(); map failures to one line on stderr and an exit code (1 error, 130 Ctrl-C).

    TensorFlow's native start-up log lines are filtered out unless `debug`.
    """
    prepare_process()
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
    args = parser(description).parse_args(argv)

    def work():
        from flexunet.config import load_config

        action(load_config(args.config))

    return guarded(work, args.debug, interrupted)
