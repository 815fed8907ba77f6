"""The seed's model class over the flexunet package; run alone, it writes the model summary (as the seed)."""

import importlib
import sys

from flexunet.cli import inspect_main


class TensorflowUNet:
    """A UNet built from a train_eval_infer.config, with the seed's train/evaluate/infer methods."""

    def __init__(self, config_file: str = "./train_eval_infer.config"):
        self.config = importlib.import_module("flexunet.config").load_config(config_file)
        self.model, self.rule = self._step("model.store", "compiled_unet"), None

    def _step(self, module: str, function: str, *args):
        return getattr(importlib.import_module(f"flexunet.{module}"), function)(self.config, *args)

    def train(self) -> dict:
        return self._step("training.run", "run_training")

    def load_model(self):
        """The trained model; self.rule holds its mask threshold and clean-up (model_info.json)."""
        self.model, self.rule = self._step("model.store", "load_trained", True)
        return self.model

    def evaluate(self, section: str = "eval") -> dict:
        return self._step("evaluation.run", "run_evaluation", section)

    def infer(self) -> list:
        return self._step("inference.run", "run_inference")

    def infer_tiles(self) -> list:
        return self._step("inference.run", "run_tiled_inference")

    def inspect(self, out_dir: str = "./inspection") -> dict:
        return importlib.import_module("flexunet.model.inspect").inspect_model(self.model, out_dir)


if __name__ == "__main__":
    sys.exit(inspect_main(sys.argv[1:]))
