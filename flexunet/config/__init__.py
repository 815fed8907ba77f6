"""Config: parse a train_eval_infer.config into typed, frozen sections."""

from flexunet.config.loader import Config, load_config
from flexunet.config.sections import SECTIONS

__all__ = ["SECTIONS", "Config", "load_config"]
