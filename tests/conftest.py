"""Shared fixtures: a tiny synthetic Pap-smear-like data set, an INI writer, the real data (or a skip,
or with FLEXUNET_REQUIRE_DATA=1 a failure)."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SHARED = (REPO / ".." / "shared").resolve()
SEED_CONFIG = SHARED / "reference" / "seed-Pap-Smear" / "train_eval_infer.config"
SHARED_DATA = SHARED / "data"

# Each source cell has these copies, as in the Pap-Smear data (a subset of the 13 prefixes).
COPY_PREFIXES = ("", "rotated_90_", "mirrored_", "flipped_")
CELLS = ("cellA", "cellB", "cellC", "cellD", "cellE", "cellF")
SIZE = 64


def render_value(value) -> str:
    """Strings and paths are written as they are (quote them yourself if you want quotes); other
    values (ints, floats, bools, tuples, lists, None) with repr()."""
    return str(value) if isinstance(value, (str, os.PathLike)) else repr(value)


def write_config(folder, name: str = "train_eval_infer.config", **sections) -> Path:
    """Write an INI file into `folder`: write_config(tmp_path, model={"num_layers": 3}, train={...}).

    Strings and paths are written verbatim (e.g. "4x", "./models", '"bce_iou_loss"'); other values
    with repr(), so tuples, lists and bools stay Python literals. Returns the file's path.
    """
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        for key, value in (values or {}).items():
            lines.append(f"{key} = {render_value(value)}")
        lines.append("")
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture(name="write_config", scope="session")
def write_config_fixture():
    """The write_config(folder, name=..., **sections) helper."""
    return write_config


def cell_image(rng: np.random.Generator, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """A light, slightly noisy RGB background with a dark disc (the nucleus) and its 0/255 mask."""
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
    radius = rng.integers(size // 8, size // 5)
    inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    background = np.array([200, 170, 190]) + rng.integers(-10, 10, 3)
    image = np.empty((size, size, 3), np.float64)
    image[:] = background
    image += rng.normal(0, 4, image.shape)
    image[inside] = np.array([70, 40, 110]) + rng.normal(0, 4, (int(inside.sum()), 3))
    mask = np.where(inside, 255, 0).astype(np.uint8)
    return np.clip(image, 0, 255).astype(np.uint8), mask


def copy_of(array: np.ndarray, prefix: str) -> np.ndarray:
    if prefix == "rotated_90_":
        return np.ascontiguousarray(np.rot90(array))
    if prefix == "mirrored_":
        return np.ascontiguousarray(array[:, ::-1])
    if prefix == "flipped_":
        return np.ascontiguousarray(array[::-1])
    return array


@dataclass
class TinyDataset:
    root: Path
    images: Path
    masks: Path
    names: list  # image file names, sorted
    cells: tuple


def make_tiny_dataset(root: Path, cells=CELLS, prefixes=COPY_PREFIXES, seed: int = 0) -> TinyDataset:
    """len(cells) x len(prefixes) pairs: images/<prefix><cell>.jpg and masks/<prefix><cell>.png."""
    images, masks = root / "images", root / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    names = []
    for cell in cells:
        image, mask = cell_image(rng)
        for prefix in prefixes:
            Image.fromarray(copy_of(image, prefix)).save(images / f"{prefix}{cell}.jpg", quality=95)
            Image.fromarray(copy_of(mask, prefix)).save(masks / f"{prefix}{cell}.png")
            names.append(f"{prefix}{cell}.jpg")
    return TinyDataset(root, images, masks, sorted(names), tuple(cells))


@pytest.fixture
def tiny_dataset(tmp_path) -> TinyDataset:
    """24 synthetic 64x64 RGB jpg images (6 source cells x 4 copies) with 0/255 png masks."""
    return make_tiny_dataset(tmp_path / "data")


def tiny_model_section(**overrides) -> dict:
    """A [model] section for a UNet small enough to train in seconds on a CPU."""
    section = {"image_width": 64, "image_height": 64, "image_channels": 3, "num_classes": 1,
               "base_filters": 4, "num_layers": 3, "dropout_rate": 0.05, "learning_rate": 1e-3,
               "loss": "bce_iou_loss", "metrics": ["iou_coef"]}
    section.update(overrides)
    return section


@pytest.fixture(name="tiny_model_section", scope="session")
def tiny_model_section_fixture():
    """The tiny_model_section(**overrides) helper."""
    return tiny_model_section


@pytest.fixture(name="make_tiny_dataset", scope="session")
def make_tiny_dataset_fixture():
    """The make_tiny_dataset(root, cells=..., prefixes=..., seed=...) helper."""
    return make_tiny_dataset


REQUIRE_DATA = "FLEXUNET_REQUIRE_DATA"


def missing_data(reason: str) -> None:
    """Skip with `reason`, or, when the environment sets FLEXUNET_REQUIRE_DATA=1 (CI does, in .ci/run),
    fail with it: there a missing ../shared folder is a broken checkout, not an optional extra."""
    if os.environ.get(REQUIRE_DATA) == "1":
        pytest.fail(f"{reason}; {REQUIRE_DATA}=1 requires it (unset the variable to skip instead)",
                    pytrace=False)
    pytest.skip(f"{reason} (set {REQUIRE_DATA}=1 to make this a failure)")


def require_data(what: str, *paths: Path) -> None:
    """missing_data() naming the first of `paths` that does not exist; nothing when they all do."""
    for path in paths:
        if not Path(path).exists():
            missing_data(f"{what} not available: {path} not found")


def shared_data_folder(root: Path | None = None) -> Path:
    """`root` (default SHARED_DATA) when it holds what the real-data tests read:
    Pap-Smear-master/severe_dysplastic/{images,masks} and mini_test; else missing_data()."""
    root = SHARED_DATA if root is None else Path(root)
    pap = root / "Pap-Smear-master" / "severe_dysplastic"
    require_data("real data (the shared Pap-Smear data is not part of the repository)",
                 pap / "images", pap / "masks", root / "mini_test")
    return root


@pytest.fixture
def shared_data() -> Path:
    """The real data folder (../shared/data from the repository root), or a skip (a failure with
    FLEXUNET_REQUIRE_DATA=1) when absent."""
    return shared_data_folder()


@pytest.fixture
def seed_config() -> Path:
    """The seed's train_eval_infer.config, or a skip (a failure with FLEXUNET_REQUIRE_DATA=1) when absent."""
    require_data("the seed config", SEED_CONFIG)
    return SEED_CONFIG


@pytest.fixture(name="subprocess_env", scope="session")
def subprocess_env_fixture():
    """The subprocess_env(**extra) helper."""
    return subprocess_env


def subprocess_env(**extra) -> dict:
    """Environment for running the top-level scripts: the repository on PYTHONPATH, quiet TF."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.pop("FLEXUNET_DEBUG", None)
    env.update(extra)
    return env
