"""The seed's model class, TensorflowUNet(config_file): its train, evaluate, infer and inspect methods as users
script them, over the stage commands."""


class TensorflowUNet:
    """A UNet built from a train_eval_infer.config, with the seed's train/evaluate/infer methods.

    After load_model() the trained model is held: evaluate(), infer() and infer_tiles() use it (loaded
    and traced once) instead of reading it again from model_dir.
    """

    def __init__(self, config_file: str = "./train_eval_infer.config"):
        from flexunet.config import load_config
        from flexunet.model.store import compiled_unet

        self.config = load_config(config_file)
        self.model, self.rule, self.trained = compiled_unet(self.config), None, None

    def train(self):
        """Train; returns the model's record (model_info.json)."""
        from flexunet.training.run import run_training

        return run_training(self.config)

    def load_model(self):
        """The trained model; self.rule holds its mask threshold and clean-up (model_info.json)."""
        from flexunet.inference.postprocess import configured_rule
        from flexunet.model.store import load_trained

        self.trained = load_trained(self.config, compile_model=True)
        self.model = self.trained.model
        self.rule = configured_rule(self.trained.record, self.config.postprocess)
        return self.model

    def evaluate(self, section: str = "eval") -> dict:
        from flexunet.evaluation.run import run_evaluation

        return run_evaluation(self.config, section, self.trained)

    def infer(self) -> list:
        from flexunet.inference.run import run_inference

        return run_inference(self.config, self.trained)

    def infer_tiles(self) -> list:
        from flexunet.inference.tiled import run_tiled_inference

        return run_tiled_inference(self.config, self.trained)

    def inspect(self, out_dir: str = "./inspection") -> dict:
        from flexunet.model.inspect import inspect_model

        return inspect_model(self.model, out_dir)
