"""The seed's model class over the flexunet package: TensorflowUNet(config_file).model and its steps."""

import sys

from flexunet.cli import config_command


class TensorflowUNet:
    """A UNet built from a train_eval_infer.config, with the seed's train/evaluate/infer methods."""

    def __init__(self, config_file: str = "./train_eval_infer.config"):
        from flexunet import config, modelio, train, evaluate, infer, inspect_model
        self._steps = (modelio, train, evaluate, infer, inspect_model)
        self.config = config.load_config(config_file)
        self.model = modelio.compile_from_section(modelio.unet_from_section(self.config.model), self.config.model)
        self.threshold = None

    def train(self):
        return self._steps[1].run_training(self.config)

    def load_model(self):
        self.model, self.threshold = self._steps[0].load_trained(self.config, compile_model=True)
        return self.model

    def evaluate(self, section: str = "eval"):
        return self._steps[2].run_evaluation(self.config, section)

    def infer(self):
        return self._steps[3].run_inference(self.config)

    def infer_tiles(self):
        return self._steps[3].run_tiled_inference(self.config)

    def inspect(self, out_dir: str = "./inspection"):
        return self._steps[4].inspect_model(self.model, out_dir)


if __name__ == "__main__":
    sys.exit(config_command("Build the model and print its size.",
                            lambda c: print(f"{TensorflowUNet(c.source).model.count_params():,} parameters")))
