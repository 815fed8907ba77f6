"""The seed's model class over the flexunet package: TensorflowUNet(config_file).model and its steps."""

import sys

from flexunet.cli import config_command
from flexunet.config import load_config
from flexunet.modelio import compile_from_section, load_trained, unet_from_section


class TensorflowUNet:
    """A UNet built from a train_eval_infer.config, with the seed's train/evaluate/infer methods."""

    def __init__(self, config_file: str = "./train_eval_infer.config"):
        self.config = load_config(config_file)
        self.model = compile_from_section(unet_from_section(self.config.model), self.config.model)

    def train(self):
        from flexunet.train import run_training
        return run_training(self.config)

    def load_model(self):
        self.model, self.threshold = load_trained(self.config, compile_model=True)
        return self.model

    def evaluate(self, section: str = "eval"):
        from flexunet.evaluate import run_evaluation
        return run_evaluation(self.config, section)

    def infer(self):
        from flexunet.infer import run_inference
        return run_inference(self.config)

    def infer_tiles(self):
        from flexunet.infer import run_tiled_inference
        return run_tiled_inference(self.config)

    def inspect(self, out_dir: str = "./inspection"):
        from flexunet.inspect_model import inspect_model
        return inspect_model(self.model, out_dir)


if __name__ == "__main__":
    sys.exit(config_command("Build the model and print its size.",
                            lambda c: print(f"{TensorflowUNet(c.source).model.count_params():,} parameters")))
