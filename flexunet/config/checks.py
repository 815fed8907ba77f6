"""Checks that span several keys, run once after parsing."""

from flexunet.config.levels import size_problem
from flexunet.config.names import (
    CELLS_NAMES,
    LOSS_NAMES,
    METRIC_NAMES,
    MULTI_CLASS_NAMES,
    MULTI_CLASS_ONLY,
    OPTIMIZER_NAMES,
    progress_metric,
)
from flexunet.config.sections import Config
from flexunet.errors import ConfigError
from flexunet.registry import look_up_option


def _check_cells_head(config: Config) -> None:
    """The cells head reads 3-class label masks and has losses and metrics of its own."""
    m = config.model
    if m.num_classes != 3:
        raise ConfigError(f"{config.where('model', 'num_classes')}: head = \"cells\" expected 3 (background, "
                          f"cytoplasm, nucleus), got {m.num_classes}")
    for key_name, names in (("loss", [m.loss]), ("metrics", m.metrics)):
        for name in names:
            if name not in CELLS_NAMES:
                raise ConfigError(f"{config.where('model', key_name)}: {name!r} is for a classes head; with head = "
                                  f"\"cells\" expected one of {', '.join(CELLS_NAMES)}")


def _check_head(config: Config) -> None:
    """Losses and metrics that fit the head: softmax (num_classes > 1, label masks), sigmoid, or cells."""
    m = config.model
    if m.head == "cells":
        _check_cells_head(config)
        return
    if m.nucleus_decoder:
        raise ConfigError(f"{config.where('model', 'nucleus_decoder')}: expected False with head = {m.head!r} "
                          "(a nucleus decoder of its own needs head = \"cells\"), got True")
    for key_name, names in (("loss", [m.loss]), ("metrics", m.metrics)):
        for name in names:
            if name in CELLS_NAMES:
                raise ConfigError(f"{config.where('model', key_name)}: {name!r} needs [model] head = \"cells\", "
                                  f"got head = {m.head!r}")
            if m.num_classes > 1 and name not in MULTI_CLASS_NAMES:
                raise ConfigError(f"{config.where('model', key_name)}: {name!r} is for one class (a sigmoid head); "
                                  f"with num_classes = {m.num_classes} expected one of {', '.join(MULTI_CLASS_NAMES)}")
            if m.num_classes == 1 and name in MULTI_CLASS_ONLY:
                raise ConfigError(f"{config.where('model', key_name)}: {name!r} needs class labels (num_classes >= "
                                  f"{3 if name == 'dice_cytoplasm' else 2}), got num_classes = 1")
            if name == "dice_cytoplasm" and m.num_classes < 3:
                raise ConfigError(f"{config.where('model', key_name)}: 'dice_cytoplasm' needs num_classes >= 3 "
                                  f"(background, cytoplasm, nucleus), got {m.num_classes}")
    if m.num_classes > 1 and config.mask.blur:
        raise ConfigError(f"{config.where('mask', 'blur')}: expected False with num_classes = {m.num_classes} "
                          "(label masks are never blurred), got True")


def check_config(config: Config) -> None:
    """Raise ConfigError for names that do not exist and sizes the model cannot use."""
    m = config.model
    look_up_option(m.loss, LOSS_NAMES, config.where("model", "loss"))
    for name in m.metrics:
        look_up_option(name, METRIC_NAMES, config.where("model", "metrics"))
    _check_head(config)
    look_up_option(m.optimizer.lower(), OPTIMIZER_NAMES, config.where("model", "optimizer"))
    for key_name, size in (("image_height", m.image_height), ("image_width", m.image_width)):
        problem = size_problem(size, m.num_layers)
        if problem:
            raise ConfigError(f"{config.where('model', key_name)}: {problem}")
    if m.image_channels not in (1, 3, 4):
        raise ConfigError(f"{config.where('model', 'image_channels')}: expected 1 (gray), 3 (RGB) or "
                          f"4 (RGBA), got {m.image_channels}")
    deepest = m.dropout_rate * (m.num_layers - 1)
    if deepest >= 1.0:
        raise ConfigError(
            f"{config.where('model', 'dropout_rate')}: expected dropout_rate x (num_layers - 1) < 1 "
            f"(the deepest level's rate), got {m.dropout_rate} x {m.num_layers - 1} = {deepest:g}"
        )
    if config.postprocess.tta and config.postprocess.tta_rot90 and m.image_width != m.image_height:
        raise ConfigError(f"{config.where('postprocess', 'tta_rot90')}: expected a square model input (a "
                          f"rotated image must fit it), got image_width = {m.image_width}, "
                          f"image_height = {m.image_height}")
    widths = config.train.ensemble_base_filters
    if widths and len(widths) != config.train.ensemble:
        raise ConfigError(f"{config.where('train', 'ensemble_base_filters')}: expected one width per member "
                          f"(ensemble = {config.train.ensemble}), got {len(widths)}: {list(widths)}")
    if config.train.metrics is not None:
        produced = {"loss", *m.metrics, progress_metric(m.head)}
        for column in config.train.metrics:
            base = column.removeprefix("val_")
            if base not in produced:
                raise ConfigError(
                    f"{config.where('train', 'metrics')}: expected names from [model] loss/metrics "
                    f"(with or without val_), got {column!r}; available: "
                    + ", ".join(sorted(produced))
                )
