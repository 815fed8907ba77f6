"""The config schema: one frozen dataclass per INI section; each field carries its spec and doc."""

import os
from dataclasses import dataclass, field
from typing import Any

from flexunet.config.names import CELL_CHANNELS, HEADS, PER_IMAGE_LOSSES
from flexunet.config.spec import Bool, BoolOrAuto, Float, Int, ListOf, Optional, Pair, PathSpec, Str
from flexunet.errors import ConfigError

VALIDATION_MODES = ("grouped", "last_files", "eval")
CELLS_FOLDER = "cells"
CELLS_DOC = ("Cell instances beside the masks (same file stems): QuPath GeoJSON (cells with their nuclei), or 16-bit "
             "label images (one id per cell; a multi-page TIFF for overlapping cells); None = the folder `cells` "
             "beside mask_datapath when there is one. Without instances, touching cells are one cell.")
VALIDATION_ALIASES = {"seed": "last_files"}


def key(default: object, spec: object, doc: str) -> Any:
    """A config key: its default, value spec and one-line doc."""
    if isinstance(default, list):
        default = tuple(default)
    return field(default=default, metadata={"spec": spec, "doc": doc})


@dataclass(frozen=True)
class ModelSection:
    image_width: int = key(128, Int(min=8), "Model input width in pixels; images are resized to it.")
    image_height: int = key(128, Int(min=8), "Model input height in pixels.")
    image_channels: int = key(3, Int(min=1, max=4), "Input channels: 3 = RGB, 1 = gray, 4 = RGBA.")
    num_classes: int = key(1, Int(min=1), "Output channels; 1 = binary nucleus mask (sigmoid head).")
    head: str = key("classes", Str(HEADS),
                    "classes = one channel per class (sigmoid for 1, softmax for more); cells = cells as "
                    f"instances (needs num_classes = 3): sigmoid channels {', '.join(CELL_CHANNELS)}, from which "
                    "each cell is grown from its nucleus outward, stopping at its outline; overlaps go to both cells.")
    nucleus_decoder: bool = key(False, Bool(),
                                "With head = cells: the nucleus channel from a decoder of its own (the encoder "
                                "shared), so the cell, outline and overlap channels do not share its features; "
                                "a second decoder's compute.")
    base_filters: int = key(16, Int(min=1), "Filters of the first level; doubled at each level down.")
    base_kernels: tuple = key((3, 3), Pair(min=1, odd=True),
                              "Kernel of the first level; shrinks by 2 per level, not below 3.")
    num_layers: int = key(5, Int(min=2, max=12), "Encoder levels including the bridge.")
    dropout_rate: float = key(0.05, Float(min=0.0, max=1.0, max_open=True),
                              "Dropout after the first conv of a level, times the level index.")
    learning_rate: float = key(1e-4, Float(min=0.0, min_open=True), "Optimizer learning rate.")
    clipvalue: float | None = key(None, Optional(Float(min=0.0, min_open=True)),
                            "Clip each gradient value to +-clipvalue; None = no clipping.")
    dilation: tuple = key((1, 1), Pair(min=1),
                          "Dilation of the first level; shrinks by 1 per level, not below 1.")
    loss: str = key("binary_crossentropy", Str(), "Loss name (see the losses table in the README).")
    metrics: tuple = key(["binary_accuracy"], ListOf(Str()), "Metric names computed while training.")
    optimizer: str = key("adam", Str(), "Optimizer name: adam, adamw, sgd or rmsprop.")
    ema_momentum: float | None = key(None, Optional(Float(min=0.0, max=1.0, min_open=True, max_open=True)),
                               "Keep an exponential moving average of the weights (e.g. 0.998) and "
                               "validate, checkpoint and infer with it; None = off.")
    normalization: bool = key(False, Bool(), "Add BatchNormalization after every conv.")
    norm_momentum: float = key(0.99, Float(min=0.0, max=1.0, max_open=True),
                               "BatchNormalization's moving-average momentum (Keras's 0.99): 0.9 lets its "
                               "statistics settle within tens of steps, for small sets with few steps an epoch.")
    show_summary: bool = key(False, Bool(), "Print the model summary when the model is built.")
    mixed_precision: bool = key(False, Bool(),
                                "Compute in bfloat16 (float32 weights, head and loss); for GPUs.")
    jit_compile: bool | None = key(None, Optional(Bool()),
                                   "XLA-compile train/predict steps; None = on for JAX, off for TF on CPU.")

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the model input."""
        return (self.image_height, self.image_width)


@dataclass(frozen=True)
class TrainSection:
    epochs: int = key(100, Int(min=1), "Maximum number of epochs.")
    batch_size: int = key(4, Int(min=1), "Images per step (global batch across devices). Validation uses it "
                                         "too, unless the loss is a mean over images ("
                                         f"{', '.join(PER_IMAGE_LOSSES)}): then a validation step predicts "
                                         "about a million pixels (64 images of 128x128), which gives the same "
                                         "val_loss faster (val_ metrics that pool over a batch, like mask_dice, "
                                         "pool over those).")
    patience: int = key(10, Int(min=0), "Early stopping: epochs without val_loss improvement; 0 = off.")
    metrics: tuple[str, ...] | None = key(None, Optional(ListOf(Str())),
                          "Columns of train_metrics.csv, e.g. [\"iou_coef\", \"val_iou_coef\"].")
    model_dir: str = key("./models", PathSpec(), "Folder for the best model, its config and threshold.")
    eval_dir: str = key("./eval", PathSpec(), "Folder for training CSVs and plots.")
    image_datapath: str | None = key(None, Optional(PathSpec()), "Training images folder.")
    mask_datapath: str | None = key(None, Optional(PathSpec()), "Training masks folder (same file stems).")
    cells_datapath: str | None = key(None, Optional(PathSpec()), CELLS_DOC)
    create_backup: bool = key(False, Bool(),
                              "Move an earlier model_dir/eval_dir to *_<timestamp>_bak before training.")
    validation_split: float = key(0.2, Float(min=0.0, max=1.0, min_open=True, max_open=True),
                                  "Fraction of the training set held out for validation.")
    validation: str = key("grouped", Str(VALIDATION_MODES, VALIDATION_ALIASES),
                          "grouped = hold out whole source cells; last_files = the last files as the seed "
                          "did (its old name \"seed\" still works; copies of a cell leak); "
                          "eval = validate on the [eval] folders.")
    seed: int = key(137, Int(min=0), "Random seed for weights, shuffling, splits and augmentation.")
    deterministic: bool = key(True, Bool(),
                              "TensorFlow: deterministic ops, so a seed gives the same weights (no XLA).")
    resume: bool = key(False, Bool(), "Continue an interrupted run from its last completed epoch.")
    learning_rate_reducer: bool = key(False, Bool(), "Reduce the learning rate when val_loss plateaus.")
    reducer_factor: float = key(0.5, Float(min=0.0, max=1.0, min_open=True, max_open=True),
                                "Factor applied to the learning rate on a plateau.")
    reducer_patience: int = key(5, Int(min=1), "Epochs without improvement before reducing.")
    steps_per_epoch: int | None = key(None, Optional(Int(min=1)), "Steps per epoch; None = whole set.")
    validation_steps: int | None = key(None, Optional(Int(min=1)),
                                       "Validation steps of batch_size images; None = whole set.")
    min_steps_per_epoch: int | None = key(None, Optional(Int(min=1)),
                                          "When the training set gives fewer steps per epoch than this at "
                                          "batch_size, halve the batch size (down to 2) until it gives this "
                                          "many (few large images: 30 fields of view at batch 16 would train "
                                          "2 steps an epoch); None = always batch_size. Ignored when "
                                          "steps_per_epoch is set.")
    ensemble: int = key(1, Int(min=1),
                        "Train this many UNets (seeds seed, seed + 1, ...; the same validation cells "
                        "unless ensemble_folds) "
                        "in model_dir/member_<k>; evaluation, inference and export average their "
                        "probabilities.")
    ensemble_folds: bool = key(False, Bool(),
                               "With ensemble > 1: member 1 validates on the configured cells, each later "
                               "member on another group of source cells of the same size (and trains on "
                               "the rest), so the members together learn from every cell; the threshold "
                               "is chosen on each member's own validation cells.")
    ensemble_base_filters: tuple = key((), ListOf(Int(min=1)),
                                       "base_filters of each ensemble member, e.g. [8, 8, 8, 16, 16] (members of "
                                       "different widths err differently); empty = [model] base_filters for all.")
    select_threshold: bool = key(True, Bool(),
                                 "Choose the mask threshold with the best validation Dice after training "
                                 "(of the masks after [postprocess] TTA and clean-up).")
    in_memory: bool | None = key(None, Optional(Bool()),
                            "Hold the data set in memory; None = only when it is under 1 GiB.")
    workers: int = key(1, Int(min=1), "Threads that load and augment batches.")
    epoch_change_infer: bool = key(False, Bool(), "Save predictions on a few fixed images every epoch.")
    epoch_change_infer_dir: str = key("./epoch_change_infer", PathSpec(),
                                      "Folder for the per-epoch predictions.")
    num_infer_images: int = key(6, Int(min=1), "Images predicted every epoch.")
    tensorboard: bool = key(False, Bool(), "Write TensorBoard logs to eval_dir/tensorboard.")
    distribution: str = key("none", Str(("none", "mirrored")),
                            "mirrored = data-parallel over all local (or TF_CONFIG) devices.")


@dataclass(frozen=True)
class EvalSection:
    image_datapath: str | None = key(None, Optional(PathSpec()), "Evaluation images folder.")
    mask_datapath: str | None = key(None, Optional(PathSpec()), "Evaluation masks folder.")
    cells_datapath: str | None = key(None, Optional(PathSpec()), CELLS_DOC)
    output_dir: str = key("./eval_output", PathSpec(),
                          "Folder for evaluation.csv, per_image.csv and pictures.")
    batch_size: int | None = key(None, Optional(Int(min=1)), "Batch size; None = [train] batch_size.")


@dataclass(frozen=True)
class TestSection:
    image_datapath: str | None = key(None, Optional(PathSpec()), "Held-out test images folder.")
    mask_datapath: str | None = key(None, Optional(PathSpec()), "Held-out test masks folder.")
    cells_datapath: str | None = key(None, Optional(PathSpec()), CELLS_DOC)
    output_dir: str = key("./test_eval_output", PathSpec(), "Folder for the test-set evaluation.")


@dataclass(frozen=True)
class InferSection:
    images_dir: str | None = key(None, Optional(PathSpec()), "Images to segment (any size).")
    output_dir: str = key("./test_output", PathSpec(), "Folder for one grayscale mask per image.")
    merged_dir: str | None = key(None, Optional(PathSpec()), "Folder for image+mask overlays; None = none.")
    binarize: bool = key(True, Bool(), "Write 0/255 masks at the model's threshold (else probabilities).")
    batch_size: int | None = key(None, Optional(Int(min=1)),
                                 "Prediction batch size; None = about a million pixels per call (64 at 128x128).")
    pixel_size_um: float | None = key(None, Optional(Float(min=0.0, min_open=True)),
                                      "Micrometres per pixel of the images: cells.csv then gives areas in µm² "
                                      "too (inference and tiled inference); None = pixels only.")


@dataclass(frozen=True)
class TiledInferSection:
    images_dir: str | None = key(None, Optional(PathSpec()), "Large images to segment tile by tile.")
    output_dir: str = key("./tiled_test_output", PathSpec(), "Folder for the stitched masks.")
    merged_dir: str | None = key(None, Optional(PathSpec()), "Folder for overlays; None = none.")
    overlapping: int = key(0, Int(min=0), "Pixels shared by neighbouring tiles (blended).")
    background: int = key(0, Int(min=0, max=255), "Mask value written for background pixels.")
    binarize: bool = key(True, Bool(), "Write 0/255 masks at the model's threshold.")


@dataclass(frozen=True)
class SlideSection:
    window_px: int = key(2048, Int(min=64), "Whole slides: the core of a window read and predicted at once "
                                             "(pixels of the level read); each cell is kept by the window whose "
                                             "core holds its nucleus.")
    halo_px: int = key(128, Int(min=0), "Context around each window core; more than the largest cell's radius, "
                                        "so a cell on a seam is seen whole (larger ones are counted as cut).")
    pixel_size_um: float | None = key(None, Optional(Float(min=0.0, min_open=True)),
                                      "Micrometres per pixel the model was trained at: a pyramidal slide is read "
                                      "at its coarsest level that fine; None = full resolution.")
    skip_background: bool = key(True, Bool(), "Skip windows without cells on the slide's thumbnail.")
    min_pixels: int = key(64 * 1024 * 1024, Int(min=1),
                          "A TIFF with at least this many pixels (or with pyramid levels) is streamed as a slide; "
                          "smaller images are read whole.")


@dataclass(frozen=True)
class ClusterSection:
    scheduler: str | None = key(None, Optional(Str()),
                                "Many slides: a Dask scheduler address (tcp://host:8786) to run on a cluster; "
                                "None = a local cluster of `workers` processes.")
    workers: int = key(2, Int(min=0), "Local worker processes (each loads the model once); 0 = this process.")
    retries: int = key(2, Int(min=0), "Times an image is tried again when its worker dies.")
    output_dir: str = key("./slides_output", PathSpec(), "Folder of one sub-folder per image or slide.")


@dataclass(frozen=True)
class MaskSection:
    binarize: bool = key(True, Bool(),
                         "Train on mask > threshold as 0/1; False trains on the grey levels as soft "
                         "targets (the anti-aliased edge places the outline inside a pixel). "
                         "Evaluation always scores against mask > threshold.")
    threshold: int = key(128, Int(min=0, max=255), "Grey level above which a mask pixel is nucleus.")
    blur: bool = key(False, Bool(),
                     "Seed behaviour: blur after binarizing and count any non-zero pixel as nucleus "
                     "(grows masks by about one pixel).")
    blur_size: tuple = key((3, 3), Pair(min=1), "Blur kernel for blur = True.")


@dataclass(frozen=True)
class GeneratorSection:
    augmentation: bool = key(False, Bool(), "Online augmentation of training batches ([augmentor]).")
    debug: bool = key(False, Bool(), "Save a picture of the first training batch to eval_dir/augmented_batch.png.")


@dataclass(frozen=True)
class AugmentorSection:
    vflip: bool = key(True, Bool(), "Random vertical flips.")
    hflip: bool = key(True, Bool(), "Random horizontal flips.")
    rotation: bool = key(True, Bool(), "Random rotations by one of `angles`.")
    angles: tuple = key([90, 180, 270], ListOf(Float()), "Rotation angles in degrees.")
    shrinks: tuple = key([], ListOf(Float(min=0.1, max=2.0)), "Zoom factors (<1 shrinks, >1 zooms).")
    shears: tuple = key([], ListOf(Float(min=-0.5, max=0.5)), "Shear factors.")
    deformation: bool = key(False, Bool(), "Elastic deformation.")
    deformation_alpha: float = key(20.0, Float(min=0.0), "Elastic displacement scale in pixels.")
    deformation_sigma: float = key(4.0, Float(min=0.5), "Elastic smoothness (Gaussian sigma, pixels).")
    brightness: float = key(0.0, Float(min=0.0, max=1.0), "Brightness jitter (fraction of 255).")
    contrast: float = key(0.0, Float(min=0.0, max=1.0), "Contrast jitter (fraction).")
    hue: float = key(0.0, Float(min=0.0, max=90.0), "Hue jitter in degrees.")
    probability: float = key(0.5, Float(min=0.0, max=1.0), "Chance that each enabled transform applies.")


@dataclass(frozen=True)
class PostprocessSection:
    tta: bool = key(False, Bool(), "Average predictions over flips (test-time augmentation).")
    tta_rot90: bool = key(False, Bool(), "With tta: also the 90/270 degree rotations, 8 views instead of 4 "
                                         "(twice the prediction time; square model input only); "
                                         "without tta: no effect.")
    keep_largest: bool | str = key("auto", BoolOrAuto(),
                                   "Keep only the largest connected component of a mask (one object per image); "
                                   "\"auto\" = decided on the validation cells with the threshold.")
    fill_holes: bool | str = key("auto", BoolOrAuto(),
                                 "Fill holes inside predicted objects; \"auto\" = decided on the validation cells.")


SECTIONS = {
    "model": ModelSection,
    "train": TrainSection,
    "eval": EvalSection,
    "test": TestSection,
    "infer": InferSection,
    "tiledinfer": TiledInferSection,
    "mask": MaskSection,
    "generator": GeneratorSection,
    "augmentor": AugmentorSection,
    "postprocess": PostprocessSection,
    "slide": SlideSection,
    "cluster": ClusterSection,
}


@dataclass(frozen=True)
class Config:
    """A parsed config: one frozen dataclass per section, plus where it came from."""

    source: str
    model: ModelSection = field(default_factory=ModelSection)
    train: TrainSection = field(default_factory=TrainSection)
    eval: EvalSection = field(default_factory=EvalSection)
    test: TestSection = field(default_factory=TestSection)
    infer: InferSection = field(default_factory=InferSection)
    tiledinfer: TiledInferSection = field(default_factory=TiledInferSection)
    mask: MaskSection = field(default_factory=MaskSection)
    generator: GeneratorSection = field(default_factory=GeneratorSection)
    augmentor: AugmentorSection = field(default_factory=AugmentorSection)
    postprocess: PostprocessSection = field(default_factory=PostprocessSection)
    slide: SlideSection = field(default_factory=SlideSection)
    cluster: ClusterSection = field(default_factory=ClusterSection)
    explicit: frozenset = frozenset()

    @property
    def base_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.source))

    def where(self, section: str, key: str) -> str:
        """The setting's name as errors show it: "[train] batch_size in ./x.config"."""
        return f"[{section}] {key} in {self.source}"

    def require(self, section: str, key: str, purpose: str):
        """The value of a key a command needs; ConfigError when it is not set."""
        value = getattr(getattr(self, section), key)
        if value is None:
            raise ConfigError(f"{self.where(section, key)}: required {purpose}, but not set")
        return value

    def is_set(self, section: str, key: str) -> bool:
        return (section, key) in self.explicit

    def protected_folders(self, output: str) -> dict[str, str]:
        """{what: folder} of every folder an output folder (the setting "section key", e.g. "infer
        output_dir") must neither be nor hold: the config's folder, every image, mask and input folder the
        config names, and the model folder (unless `output` is the model folder or its eval folder)."""
        named = {
            "config folder": self.base_dir,
            "input folder": self.infer.images_dir, "tiled input folder": self.tiledinfer.images_dir,
            "training images": self.train.image_datapath, "training masks": self.train.mask_datapath,
            "evaluation images": self.eval.image_datapath, "evaluation masks": self.eval.mask_datapath,
            "test images": self.test.image_datapath, "test masks": self.test.mask_datapath,
            **{f"{s} cell instances": self.cells_folder(s) for s in ("train", "eval", "test")},
        }
        if not output.startswith("train "):
            named["model folder"] = self.train.model_dir
        return {what: folder for what, folder in named.items() if folder is not None}

    def folders(self, section: str, purpose: str) -> tuple[str, str, str, str, str | None, str]:
        """(images folder, masks folder, the settings naming them, the cell instances folder or None, and
        its setting) of [train], [eval] or [test]."""
        masks = self.require(section, "mask_datapath", purpose)
        return (self.require(section, "image_datapath", purpose), masks, self.where(section, "image_datapath"),
                self.where(section, "mask_datapath"), self.cells_folder(section), self.where(section, "cells_datapath"))

    def cells_folder(self, section: str) -> str | None:
        """[section] cells_datapath, or the folder `cells` beside its mask folder when that exists, or None."""
        s = getattr(self, section)
        if s.cells_datapath is not None:
            return s.cells_datapath
        if s.mask_datapath is None:
            return None
        beside = os.path.join(os.path.dirname(os.path.normpath(s.mask_datapath)), CELLS_FOLDER)
        return beside if os.path.isdir(beside) else None


PATH_KEYS = {
    (section, f.name)
    for section, cls in SECTIONS.items()
    for f in cls.__dataclass_fields__.values()
    if isinstance(f.metadata["spec"], PathSpec)
    or (isinstance(f.metadata["spec"], Optional) and isinstance(f.metadata["spec"].inner, PathSpec))
}
