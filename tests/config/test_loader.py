"""load_config: the seed config, path resolution, and one ConfigError (with its message) per bad input."""

import os
import re
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flexunet.config import SECTIONS, load_config
from flexunet.errors import ConfigError

MINIMAL = {"model": {"image_width": 64, "image_height": 64, "num_layers": 3}}


# --------------------------------------------------------------------------- the seed config


def test_seed_config_loads_unchanged(seed_config):
    config = load_config(seed_config)
    m = config.model
    assert (m.image_width, m.image_height, m.image_channels, m.num_classes, m.base_filters,
            m.base_kernels, m.num_layers, m.dropout_rate) == (128, 128, 3, 1, 16, (3, 3), 7, 0.07)
    assert m.learning_rate == pytest.approx(1e-4)
    assert m.clipvalue == 0.5
    assert m.dilation == (1, 1)
    assert m.loss == "bce_iou_loss"
    assert m.metrics == ("iou_coef",)
    assert m.show_summary is False
    t = config.train
    assert (t.epochs, t.batch_size, t.patience) == (100, 4, 10)
    assert t.metrics == ("iou_coef", "val_iou_coef")
    assert t.create_backup is True
    assert (config.mask.threshold, config.mask.blur, config.mask.binarize) == (60, True, True)


def test_seed_config_paths_resolve_against_its_folder(seed_config):
    config = load_config(seed_config)
    base = seed_config.parent
    assert config.base_dir == str(base)
    assert config.train.model_dir == str(base / "models")
    assert config.train.eval_dir == str(base / "eval")
    assert config.train.image_datapath == str(base / "Pap-Smear/severe_dysplastic/train/images")
    assert config.eval.output_dir == str(base / "eval_output")
    # "[infer] " has a trailing space in the seed file: still the [infer] section.
    assert config.infer.images_dir == str(base / "Pap-Smear/severe_dysplastic/test/images")
    assert config.infer.merged_dir == str(base / "test_output_merged")


def test_relative_paths_resolve_against_the_config_folder_not_the_cwd(tmp_path, write_config,
                                                                       monkeypatch):
    folder = tmp_path / "project"
    path = write_config(folder, model=MINIMAL["model"],
                        train={"model_dir": '"./models"', "image_datapath": "data/images",
                               "eval_dir": str(tmp_path / "abs_eval")},
                        infer={"images_dir": "../elsewhere/imgs/"})
    monkeypatch.chdir(tmp_path)  # a different working directory
    config = load_config(os.path.relpath(path, tmp_path))
    assert config.train.model_dir == str(folder / "models")
    assert config.train.image_datapath == str(folder / "data" / "images")
    assert config.train.eval_dir == str(tmp_path / "abs_eval")
    assert config.infer.images_dir == str(tmp_path / "elsewhere" / "imgs")
    # Defaults that were not set resolve against the config folder too.
    assert config.eval.output_dir == str(folder / "eval_output")
    assert config.tiledinfer.output_dir == str(folder / "tiled_test_output")
    assert config.is_set("train", "model_dir") and not config.is_set("eval", "output_dir")


def test_values_inline_comments_and_case(tmp_path):
    path = tmp_path / "c.config"
    path.write_text("[Model]\nIMAGE_WIDTH = 64 ; a comment\nimage_height=64\nnum_layers = 3\n"
                    "normalization = true\nclipvalue = None\nbase_kernels = 5\n"
                    "metrics = iou_coef\n[train]\nmetrics = val_iou_coef\nbatch_size = 8  # eight\n", encoding="utf-8")
    config = load_config(path)
    assert config.model.image_width == 64
    assert config.model.normalization is True
    assert config.model.clipvalue is None
    assert config.model.base_kernels == (5, 5)
    assert config.train.batch_size == 8
    assert config.model.metrics == ("iou_coef",)
    assert config.train.metrics == ("val_iou_coef",)


# --------------------------------------------------------------------------- bad files


def _bad_file(tmp_path, kind):
    path = tmp_path / "train_eval_infer.config"
    if kind == "missing":
        pass
    elif kind == "empty":
        path.write_text("")
    elif kind == "blank":
        path.write_text("\n   \n\t\n")
    elif kind == "folder":
        path.mkdir()
    elif kind == "not utf-8":
        path.write_bytes(b"[model]\nloss = \xff\xfe\xfa\n")
    elif kind == "no section header":
        path.write_text("image_width = 64\n[model]\n")
    elif kind == "duplicate key":
        path.write_text("[train]\nepochs = 2\nepochs = 3\n")
    elif kind == "line without =":
        path.write_text("[train]\nepochs\n")
    return path


@pytest.mark.parametrize("kind, expected", [
    ("missing", "config file {path}: not found"),
    ("empty", "config file {path}: is empty; expected [model] and [train] sections"),
    ("blank", "config file {path}: is empty"),
    ("folder", "config file {path}: expected a file, found a folder"),
    ("not utf-8", "config file {path}: expected UTF-8 text, found undecodable bytes"),
    ("no section header", "config file {path}: not valid INI"),
    ("duplicate key", "config file {path}: not valid INI"),
    ("line without =", "config file {path}: not valid INI"),
])
def test_bad_config_files(tmp_path, kind, expected):
    path = _bad_file(tmp_path, kind)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(expected.format(path=path))


# --------------------------------------------------------------------------- bad sections, keys, values


def _where(section, key, path):
    return f"[{section}] {key} in {path}: "


BAD_CONTENT = [
    # (id, INI text, expected message start (with {path}), further fragments that must appear)
    ("unknown section", "[modle]\nimage_width = 64\n",
     "[modle] in {path}: unknown section (did you mean [model]?)", ["valid sections: model, train"]),
    ("section twice", "[model]\nnum_layers = 3\n[Model]\nnum_layers = 4\n",
     "[Model] in {path}: section appears twice", []),
    ("unknown key", "[train]\nbatchsize = 4\n",
     "[train] batchsize in {path}: unknown key (did you mean 'batch_size'?)", ["valid keys: epochs"]),
    ("misplaced key", "[train]\nthreshold = 60\n",
     "[train] threshold in {path}: unknown key", ["(it belongs in [mask])"]),
    ("misplaced model key", "[train]\nloss = \"bce_iou_loss\"\n",
     "[train] loss in {path}: unknown key", ["(it belongs in [model])"]),
    ("wrong int", "[train]\nbatch_size = 4x\n",
     "[train] batch_size in {path}: expected a positive int, got '4x'", []),
    ("float for int", "[train]\nepochs = 2.5\n",
     "[train] epochs in {path}: expected a positive int, got 2.5", []),
    ("bool for int", "[train]\nepochs = True\n",
     "[train] epochs in {path}: expected a positive int, got True", []),
    ("negative epochs", "[train]\nepochs = -3\n",
     "[train] epochs in {path}: expected a positive int, got -3", []),
    ("zero batch", "[train]\nbatch_size = 0\n",
     "[train] batch_size in {path}: expected a positive int, got 0", []),
    ("zero min steps", "[train]\nmin_steps_per_epoch = 0\n",
     "[train] min_steps_per_epoch in {path}: expected None or a positive int, got 0", []),
    ("dropout 1.0", "[model]\ndropout_rate = 1.0\n",
     "[model] dropout_rate in {path}: expected a number >= 0 and < 1, got 1.0", []),
    ("negative dropout", "[model]\ndropout_rate = -0.1\n",
     "[model] dropout_rate in {path}: expected a number >= 0 and < 1, got -0.1", []),
    ("learning rate 0", "[model]\nlearning_rate = 0\n",
     "[model] learning_rate in {path}: expected a number > 0, got 0", []),
    ("learning rate inf", "[model]\nlearning_rate = 1e999\n",
     "[model] learning_rate in {path}: expected a number > 0, got inf", []),
    ("threshold 300", "[mask]\nthreshold = 300\n",
     "[mask] threshold in {path}: expected an int from 0 to 255, got 300", []),
    ("threshold -1", "[mask]\nthreshold = -1\n",
     "[mask] threshold in {path}: expected an int from 0 to 255, got -1", []),
    ("unequal dilation", "[model]\ndilation = (2,3)\n",
     "[model] dilation in {path}: expected a pair of equal ints >= 1 like (3,3), got (2, 3)", []),
    ("even kernel", "[model]\nbase_kernels = (4,4)\n",
     "[model] base_kernels in {path}: expected a pair of equal odd ints >= 1 like (3,3), got (4, 4)", []),
    ("triple kernel", "[model]\nbase_kernels = (3,3,3)\n",
     "[model] base_kernels in {path}: expected a pair of equal odd ints >= 1 like (3,3), got (3, 3, 3)", []),
    ("bad bool", "[model]\nnormalization = yes\n",
     "[model] normalization in {path}: expected True or False, got 'yes'", []),
    ("bad choice", "[train]\nvalidation = random\n",
     "[train] validation in {path}: expected one of 'grouped', 'last_files', 'eval', got 'random'", []),
    ("empty value", "[train]\nepochs =\n",
     "[train] epochs in {path}: expected a positive int, got ''", []),
    ("metric not a string", "[model]\nmetrics = [1, 2]\n",
     "[model] metrics in {path}: expected a list of strings, got [1, 2]", []),
    ("path not a string", "[train]\nmodel_dir = 5\n",
     "[train] model_dir in {path}: expected a path string, got 5", []),
    # read_image supports 1, 3 or 4 channels: 2 must fail when the config loads, not at the first image
    ("two channels", "[model]\nimage_channels = 2\n",
     "[model] image_channels in {path}: expected ", []),
    ("size not divisible", "[model]\nimage_width = 100\nnum_layers = 7\n",
     "[model] image_width in {path}: expected a multiple of 64 (num_layers = 7 halves it 6 times), "
     "got 100; use 64 or 128", []),
    ("height not divisible", "[model]\nimage_height = 120\nnum_layers = 5\n",
     "[model] image_height in {path}: expected a multiple of 16", ["got 120; use 112 or 128"]),
    ("deep dropout", "[model]\ndropout_rate = 0.25\nnum_layers = 5\n",
     "[model] dropout_rate in {path}: expected dropout_rate x (num_layers - 1) < 1",
     ["got 0.25 x 4 = 1"]),
    ("binary loss for classes", "[model]\nnum_classes = 3\nloss = \"bce_dice_loss\"\n",
     "[model] loss in {path}: 'bce_dice_loss' is for one class (a sigmoid head); with num_classes = 3 expected "
     "one of categorical_crossentropy, cce_dice_loss, dice_loss, dice_coef, mask_dice, dice_nucleus, "
     "dice_cytoplasm", []),
    ("binary metric for classes", "[model]\nnum_classes = 3\nmetrics = [\"iou_coef\"]\n",
     "[model] metrics in {path}: 'iou_coef' is for one class (a sigmoid head)", []),
    ("class loss for one class", "[model]\nloss = \"categorical_crossentropy\"\n",
     "[model] loss in {path}: 'categorical_crossentropy' needs class labels (num_classes >= 2), got "
     "num_classes = 1", []),
    ("cytoplasm of two classes", "[model]\nnum_classes = 2\nmetrics = [\"dice_cytoplasm\"]\n",
     "[model] metrics in {path}: 'dice_cytoplasm' needs num_classes >= 3 (background, cytoplasm, nucleus), "
     "got 2", []),
    ("blurred labels", "[model]\nnum_classes = 3\n[mask]\nblur = True\n",
     "[mask] blur in {path}: expected False with num_classes = 3 (label masks are never blurred), got True", []),
    ("bad clean-up", "[postprocess]\nkeep_largest = maybe\n",
     "[postprocess] keep_largest in {path}: expected True, False or \"auto\", got 'maybe'", []),
    ("unknown loss", "[model]\nloss = \"bce_iou_los\"\n",
     "[model] loss in {path}: unknown name 'bce_iou_los' (did you mean 'bce_iou_loss'?)",
     ["choices: ", "binary_crossentropy"]),
    ("unknown metric", "[model]\nmetrics = [\"iou_coeff\"]\n",
     "[model] metrics in {path}: unknown name 'iou_coeff' (did you mean 'iou_coef'?)", []),
    ("unknown optimizer", "[model]\noptimizer = adamm\n",
     "[model] optimizer in {path}: unknown name 'adamm' (did you mean 'adam", []),
    ("train metric not computed", "[model]\nmetrics = [\"iou_coef\"]\n[train]\nmetrics = [\"dice_coef\"]\n",
     "[train] metrics in {path}: expected names from [model] loss/metrics (with or without val_), "
     "got 'dice_coef'; available: iou_coef, loss", []),
    ("val train metric not computed", "[model]\nmetrics = [\"iou_coef\"]\n[train]\n"
     "metrics = [\"iou_coef\", \"val_sensitivity\"]\n",
     "[train] metrics in {path}: expected names from [model] loss/metrics", ["got 'val_sensitivity'"]),
    ("rotation tta on a non-square input", "[model]\nimage_width = 128\nimage_height = 64\n"
     "[postprocess]\ntta = True\ntta_rot90 = True\n",
     "[postprocess] tta_rot90 in {path}: expected a square model input (a rotated image must fit it), "
     "got image_width = 128, image_height = 64", []),
    ("member widths not one per member", "[train]\nensemble = 3\nensemble_base_filters = [8, 16]\n",
     "[train] ensemble_base_filters in {path}: expected one width per member (ensemble = 3), got 2: [8, 16]", []),
    ("member width not positive", "[train]\nensemble = 2\nensemble_base_filters = [8, 0]\n",
     "[train] ensemble_base_filters in {path}: expected a list of positive ints, got [8, 0]", []),
    ("cells head on nucleus masks", "[model]\nhead = \"cells\"\n",
     "[model] num_classes in {path}: head = \"cells\" expected 3 (background, cytoplasm, nucleus), got 1", []),
    ("cells head with a softmax loss", "[model]\nnum_classes = 3\nhead = \"cells\"\nloss = \"cce_dice_loss\"\n",
     "[model] loss in {path}: 'cce_dice_loss' is for a classes head; with head = \"cells\" expected one of "
     "cells_loss, cells_dice_cell", []),
    ("a cells metric on a classes head", "[model]\nnum_classes = 3\nmetrics = [\"cells_dice_nucleus\"]\n",
     "[model] metrics in {path}: 'cells_dice_nucleus' needs [model] head = \"cells\", got head = 'classes'", []),
    ("a nucleus decoder without the cells head", "[model]\nnucleus_decoder = True\n",
     "[model] nucleus_decoder in {path}: expected False with head = 'classes' (a nucleus decoder of its own needs "
     "head = \"cells\"), got True", []),
    ("an unknown head", "[model]\nhead = \"instances\"\n",
     "[model] head in {path}: expected one of 'classes', 'cells', got 'instances'", []),
    ("momentum of one", "[model]\nnorm_momentum = 1.0\n",
     "[model] norm_momentum in {path}: expected a number >= 0 and < 1, got 1.0", []),
    ("a slide window too small", "[slide]\nwindow_px = 16\n",
     "[slide] window_px in {path}: expected an int >= 64, got 16", []),
    ("negative workers", "[cluster]\nworkers = -1\n", "[cluster] workers in {path}: expected an int >= 0, got -1", []),
]


@pytest.mark.parametrize("text, expected, fragments", [c[1:] for c in BAD_CONTENT],
                         ids=[c[0] for c in BAD_CONTENT])
def test_bad_content_raises_config_error_naming_the_setting(tmp_path, text, expected, fragments):
    path = tmp_path / "train_eval_infer.config"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(expected.format(path=path)), message
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize("key, literal", [
    ("learning_rate", "1" + "0" * 400),       # a huge int: float() of it overflows
    ("clipvalue", "1" + "0" * 400),
    ("deformation_alpha", "1" + "0" * 400),
])
def test_huge_int_for_a_float_key_is_a_config_error(tmp_path, key, literal):
    section = "augmentor" if key.startswith("deformation") else "model"
    path = tmp_path / "c.config"
    path.write_text(f"[{section}]\n{key} = {literal}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"[{section}] {key} in {path}: expected ")


def test_code_in_a_value_is_never_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "c.config"
    path.write_text(f'[model]\nloss = __import__("os").system("touch {marker}")\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"[model] loss in {path}: unknown name '__import__(\"os\")")
    assert not marker.exists()
    # The same in a key that takes any string: the text is kept, never evaluated.
    path.write_text(f'[model]\noptimizer = __import__("os").system("touch {marker}")\n')
    with pytest.raises(ConfigError, match=r"\[model\] optimizer in .*: unknown name"):
        load_config(path)
    assert not marker.exists()


# --------------------------------------------------------------------------- fuzzing


def _load_text(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(exc).strip(), "a ConfigError must carry a message"


FUZZ_SETTINGS = settings(max_examples=150, deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                HealthCheck.too_slow])


@FUZZ_SETTINGS
@given(text=st.text(max_size=300))
def test_fuzz_arbitrary_text_raises_only_config_error(tmp_path, text):
    _load_text(tmp_path / "fuzz.config", text)


KEYS = [(s, k) for s, cls in SECTIONS.items() for k in cls.__dataclass_fields__]
VALUE_TEXT = st.one_of(
    st.text(alphabet=string.printable.replace("\n", "").replace("\r", ""), max_size=40),
    st.integers().map(str),
    st.integers(min_value=300, max_value=2000).map(lambda n: "9" * n),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.lists(st.one_of(st.integers(-5, 300), st.floats(), st.text(max_size=5)), max_size=4).map(repr),
    st.tuples(st.integers(-3, 9), st.integers(-3, 9)).map(repr),
    st.sampled_from(["None", "True", "false", "()", "[]", "{}", "{1: 2}", "1j", "b'x'", "((((((((",
                     "[" * 200 + "]" * 200, "\"\"", "'a' 'b'", "...", "-0.0", "0x10"]),
)


@FUZZ_SETTINGS
@given(items=st.lists(st.tuples(st.sampled_from(KEYS), VALUE_TEXT), min_size=1, max_size=4))
@example(items=[(("model", "learning_rate"), "1" + "0" * 400)])
@example(items=[(("augmentor", "angles"), "[" + "1" * 400 + "]")])
@example(items=[(("train", "validation_split"), "1" + "0" * 400)])
def test_fuzz_values_raise_only_config_error(tmp_path, items):
    sections = {}
    for (section, key), value in items:
        sections.setdefault(section, {})[key] = value
    text = "[model]\nimage_width = 64\nimage_height = 64\nnum_layers = 3\n" if "model" not in sections else ""
    for section, values in sections.items():
        text += f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
    _load_text(tmp_path / "fuzz.config", text)


def test_every_message_names_file_section_and_key(tmp_path):
    """The CLI prints str(error) alone, so the message itself must locate the setting."""
    path = tmp_path / "c.config"
    path.write_text("[augmentor]\nprobability = 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert re.fullmatch(rf"\[augmentor\] probability in {re.escape(str(path))}: expected a number "
                        r">= 0 and <= 1, got 2(\.0)?", str(info.value))


@pytest.mark.parametrize("model, loss, metrics", [
    ("num_classes = 1", "binary_crossentropy", ("binary_accuracy",)),
    ("num_classes = 2", "cce_dice_loss", ("dice_nucleus",)),
    ("num_classes = 3", "cce_dice_loss", ("dice_nucleus", "dice_cytoplasm")),
    ('num_classes = 3\nhead = "cells"', "cells_loss", ("cells_dice_cell", "cells_dice_nucleus")),
])
def test_the_loss_and_metrics_left_out_follow_the_head(tmp_path, model, loss, metrics):
    path = tmp_path / "c.config"
    path.write_text(f"[model]\n{model}\n")
    config = load_config(path)
    assert (config.model.loss, config.model.metrics) == (loss, metrics)


def test_the_cells_folder_beside_the_masks_is_found_and_protected(tmp_path):
    """[train] cells_datapath left out: the `cells` folder beside mask_datapath when there is one; every
    output must stay out of it."""
    (tmp_path / "data" / "masks").mkdir(parents=True)
    path = tmp_path / "c.config"
    path.write_text('[train]\nimage_datapath = "./data/images"\nmask_datapath = "./data/masks"\n')
    assert load_config(path).cells_folder("train") is None
    (tmp_path / "data" / "cells").mkdir()
    config = load_config(path)
    assert config.cells_folder("train") == str(tmp_path / "data" / "cells")
    assert config.protected_folders("infer output_dir")["train cell instances"] == str(tmp_path / "data" / "cells")
    path.write_text(path.read_text() + 'cells_datapath = "./elsewhere"\n')
    assert load_config(path).cells_folder("train") == str(tmp_path / "elsewhere")


@pytest.mark.parametrize("text, expected", [("auto", "auto"), ('"auto"', "auto"), ("True", True), ("False", False)])
def test_clean_up_settings(tmp_path, text, expected):
    path = tmp_path / "c.config"
    path.write_text(f"[postprocess]\nkeep_largest = {text}\n")
    assert load_config(path).postprocess.keep_largest == expected
    assert load_config(tmp_path / "c.config").postprocess.fill_holes == "auto"
