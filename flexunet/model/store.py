"""Build a UNet from the [model] section, and load a trained one with its record."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import keras

from flexunet.config import Config
from flexunet.config.sections import ModelSection
from flexunet.errors import ModelError
from flexunet.locks import note_if_training
from flexunet.model.compile import compile_unet
from flexunet.model.files import best_model_files
from flexunet.model.record import ModelRecord, read_record
from flexunet.model.unet import create_unet


def unet_from_section(m: ModelSection) -> keras.Model:
    """The UNet the [model] section describes (explicit arguments to create_unet)."""
    model = create_unet(
        image_size=(m.image_height, m.image_width), channels=m.image_channels,
        num_classes=m.num_classes, base_filters=m.base_filters, num_layers=m.num_layers,
        base_kernel=m.base_kernels[0], base_dilation=m.dilation[0], dropout_rate=m.dropout_rate,
        normalization=m.normalization, mixed_precision=m.mixed_precision, head=m.head,
        norm_momentum=m.norm_momentum, nucleus_decoder=m.nucleus_decoder,
    )
    if m.show_summary:
        model.summary()
    return model


def compile_from_section(model: keras.Model, m: ModelSection) -> keras.Model:
    return compile_unet(model, m.loss, m.metrics, m.optimizer, m.learning_rate, m.clipvalue,
                        m.jit_compile, m.ema_momentum, m.head)


def compiled_unet(config: Config) -> keras.Model:
    """The [model] UNet, compiled with its loss, metrics and optimizer (untrained)."""
    return compile_from_section(unet_from_section(config.model), config.model)


def model_signature(m: ModelSection) -> dict:
    """The [model] keys that decide the architecture, for comparing a config with saved weights (head only
    when it is not the classes head, nucleus_decoder only when on, so the records of earlier models still
    compare equal)."""
    keys = ("image_width", "image_height", "image_channels", "num_classes", "base_filters",
            "base_kernels", "num_layers", "dilation", "normalization") + (("head",) if m.head != "classes" else ()) \
        + (("nucleus_decoder",) if m.nucleus_decoder else ())
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(m).items() if k in keys}


def signature_difference(saved: dict | None, current: dict) -> str | None:
    """'num_layers = 7 (config says 6), ...' for the architecture keys that differ, or None."""
    if not saved or saved == current:
        return None
    return ", ".join(f"{k} = {saved.get(k)} (config says {current.get(k)})"
                     for k in current if saved.get(k) != current.get(k))


def member_configs(config: Config, count: int | None = None) -> list[Config]:
    """The config of each of `count` (default [train] ensemble) members: [model] with the member's width
    from [train] ensemble_base_filters, or [model] itself when that is empty or counts otherwise."""
    count = config.train.ensemble if count is None else count
    widths = config.train.ensemble_base_filters
    if len(widths) != count:
        return [config] * count
    return [replace(config, model=replace(config.model, base_filters=w)) for w in widths]


def average_models(members: Sequence[keras.Model]) -> keras.Model:
    """One model whose output is the mean of the members' outputs (members renamed member_<k>)."""
    for k, member in enumerate(members):
        member.name = f"member_{k}"
    inputs = keras.Input(tuple(members[0].inputs[0].shape[1:]), name="image")
    outputs = keras.layers.Average(name="average")([member(inputs) for member in members])
    return keras.Model(inputs, outputs, name="ensemble")


def load_unet(config: Config, weights: Path) -> keras.Model:
    """The [model] UNet with the weights of a .keras file; ModelError when they do not fit."""
    model = unet_from_section(config.model)
    try:
        model.load_weights(str(weights))
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{weights}: weights do not fit the model built from [model] in {config.source} ({reason})"
        ) from exc
    return model


@dataclass(frozen=True)
class TrainedModel:
    """A trained model as evaluation and inference use it: the Keras model (an ensemble's average) and
    its record (threshold, clean-up, training)."""

    model: keras.Model
    record: ModelRecord


def load_trained(config: Config, compile_model: bool = False) -> TrainedModel:
    """The best model of [train] model_dir built from [model], with its record.

    An ensemble's record lists its members; the model returned averages them.
    """
    model_dir = Path(config.train.model_dir)
    note_if_training(model_dir)
    record = read_record(model_dir) or ModelRecord()
    files = best_model_files(model_dir, record.members)
    missing = [f for f in files if not f.exists()]
    if missing:
        raise ModelError(
            f"{config.where('train', 'model_dir')}: no trained model {missing[0]}; run training first"
        )
    diffs = signature_difference(record.model, model_signature(config.model))
    if diffs:
        raise ModelError(f"{files[0]} was trained with another architecture: {diffs}")
    saved_widths = list(record.member_base_filters)
    if saved_widths and saved_widths != list(config.train.ensemble_base_filters):
        raise ModelError(f"{model_dir} was trained with ensemble_base_filters = {saved_widths} "
                         f"(config says {list(config.train.ensemble_base_filters)})")
    members = [load_unet(c, f) for c, f in zip(member_configs(config, len(files)), files)]
    model = members[0] if len(members) == 1 else average_models(members)
    if compile_model:
        compile_from_section(model, config.model)
    return TrainedModel(model, record)
