"""Export a config's trained best model as .keras, TF SavedModel and ONNX, checked against Keras."""

import dataclasses
import importlib.util
import json
import warnings
from pathlib import Path

import keras
import numpy as np

from flexunet.config import Config
from flexunet.errors import FlexUNetError
from flexunet.fsutil import atomic_save, atomic_write_text, prepare_output_dir
from flexunet.inference.outputs import EXPORT_DIR, EXPORT_FILES, EXPORT_INFO
from flexunet.inference.postprocess import MaskRule, configured_rule
from flexunet.model.files import BEST_MODEL
from flexunet.registry import unknown

FORMATS = ("keras", "savedmodel", "onnx")
TOLERANCE = 1e-3
ONNX_PACKAGES = {"tensorflow": ("tf2onnx", "onnx"), "jax": ("jax2onnx", "onnx")}


class ExportError(FlexUNetError):
    """A format cannot be exported here, or an exported model predicts differently from Keras."""


def _missing(packages: tuple[str, ...]) -> list[str]:
    return [p for p in packages if importlib.util.find_spec(p) is None]


def unavailable_reason(fmt: str) -> str | None:
    """Why `fmt` cannot be exported with this backend and these packages, or None when it can."""
    backend = keras.backend.backend()
    if fmt == "savedmodel" and backend != "tensorflow":
        return (f"savedmodel export needs the TensorFlow backend (KERAS_BACKEND is {backend!r}); "
                "run with KERAS_BACKEND=tensorflow")
    if fmt == "onnx":
        if backend not in ONNX_PACKAGES:
            return f"onnx export needs the TensorFlow or JAX backend (KERAS_BACKEND is {backend!r})"
        missing = _missing(ONNX_PACKAGES[backend])
        if missing:
            hint = "pip install 'flexunet[export]'"
            if backend != "tensorflow":
                hint = f"pip install {' '.join(missing)}, or use KERAS_BACKEND=tensorflow and {hint}"
            return (f"onnx export needs the package{'s' if len(missing) > 1 else ''} "
                    f"{' and '.join(missing)} with the {backend} backend: {hint}")
    return None


def parse_formats(text: str | None) -> tuple[list[str], bool]:
    """The formats named in a comma-separated list (all when None) and whether they were named."""
    if text is None:
        return list(FORMATS), False
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise ExportError(f"--formats: expected a comma-separated list of {', '.join(FORMATS)}, got {text!r}")
    for name in names:
        if name not in FORMATS:
            raise unknown("--formats", name, FORMATS, "format", error=ExportError, sort=False)
    return list(dict.fromkeys(names)), True


def choose_formats(requested: list[str], explicit: bool) -> list[str]:
    """Requested formats that can be exported; a named one that cannot raises, a default one is skipped."""
    chosen = []
    for fmt in requested:
        reason = unavailable_reason(fmt)
        if reason is None:
            chosen.append(fmt)
        elif explicit:
            raise ExportError(reason)
        else:
            print(f"skipped {fmt}: {reason}")
    return chosen


def _export_keras(model: keras.Model, path: Path) -> None:
    atomic_save(path, model.save)


def _export_savedmodel(model: keras.Model, path: Path) -> None:
    model.export(str(path), format="tf_saved_model", verbose=False)


def _export_onnx(model: keras.Model, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model.export(str(path), format="onnx", verbose=False)


def _predict_keras(path: Path, x: np.ndarray) -> np.ndarray:
    return keras.models.load_model(str(path), compile=False).predict(x, verbose=0)


def _predict_savedmodel(path: Path, x: np.ndarray) -> np.ndarray:
    if keras.backend.backend() != "tensorflow":
        raise ExportError("checking a SavedModel needs the TensorFlow backend")
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return np.asarray(loaded.serve(x))


def _predict_onnx(path: Path, x: np.ndarray) -> np.ndarray | None:
    if _missing(("onnxruntime",)):
        return None
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


EXPORTERS = {"keras": _export_keras, "savedmodel": _export_savedmodel, "onnx": _export_onnx}
PREDICTORS = {"keras": _predict_keras, "savedmodel": _predict_savedmodel, "onnx": _predict_onnx}


def _check(fmt: str, path: Path, x: np.ndarray, expected: np.ndarray) -> float | None:
    """Largest difference of the exported model's prediction from Keras's; raise beyond TOLERANCE."""
    got = PREDICTORS[fmt](path, x)
    if got is None:
        print(f"not checked {fmt}: onnxruntime is not installed (pip install onnxruntime)")
        return None
    got = np.asarray(got)
    if got.shape != expected.shape:
        raise ExportError(f"{path}: predicts shape {got.shape}, Keras predicts {expected.shape}")
    diff = float(np.max(np.abs(got.astype(np.float64) - expected)))
    if not diff <= TOLERANCE:
        raise ExportError(f"{path}: predictions differ from Keras by up to {diff:.3g} (> {TOLERANCE:g})")
    return diff


def export_model(model: keras.Model, out_dir: Path, formats: list[str], rule: MaskRule,
                 check: bool = True, extra: dict | None = None) -> dict[str, Path]:
    """Write each format into out_dir (an existing folder), check it, and write export_info.json."""
    x = np.random.default_rng(0).uniform(0, 255, (2, *model.input_shape[1:])).astype("float32")
    expected = np.asarray(model.predict(x, verbose=0), dtype=np.float64)
    written, checks = {}, {}
    for fmt in formats:
        path = out_dir / EXPORT_FILES[fmt]
        EXPORTERS[fmt](model, path)
        written[fmt] = path
        checks[fmt] = _check(fmt, path, x, expected) if check else None
        note = "" if checks[fmt] is None else f" (max difference from Keras {checks[fmt]:.2g})"
        print(f"wrote {fmt}: {path}{note}")
    info = {
        "input": {"name": model.inputs[0].name, "shape": list(model.input_shape), "dtype": "float32",
                  "values": "RGB (or grey) pixel values 0..255; the model rescales them itself"},
        "output": {"shape": list(model.output_shape), "dtype": "float32",
                   "values": "per-pixel probabilities (sigmoid for 1 class, softmax otherwise)"},
        "threshold": rule.threshold,
        "postprocess": {"keep_largest": rule.keep_largest, "fill_holes": rule.fill_holes,
                        "meaning": "after the threshold: keep only the largest 8-connected component, then fill "
                                   "holes (background not connected to the border)"},
        "files": {fmt: path.name for fmt, path in written.items()},
        "max_difference_from_keras": checks,
        "keras_version": keras.__version__, "backend": keras.backend.backend(), **(extra or {}),
    }
    atomic_write_text(out_dir / EXPORT_INFO, json.dumps(info, indent=1) + "\n")
    return written


def run_export(config: Config, output: str | None = None, formats: str | None = None,
               check: bool = True) -> dict[str, Path]:
    """Export the best model of [train] model_dir to `output` (default <model_dir>/export)."""
    from flexunet.model.store import load_trained

    requested, explicit = parse_formats(formats)
    chosen = choose_formats(requested, explicit)
    float32 = dataclasses.replace(config, model=dataclasses.replace(config.model, mixed_precision=False))
    trained = load_trained(float32)
    rule = configured_rule(trained.record, config.postprocess)
    model_dir = Path(config.train.model_dir)
    out = Path(output).resolve() if output else model_dir / EXPORT_DIR
    out = prepare_output_dir(out, "export folder (--output)", config.protected_folders("export output"))
    extra = {"source": str(model_dir / BEST_MODEL), "config": str(Path(config.source).resolve())}
    return export_model(trained.model, out, chosen, rule, check, extra)
