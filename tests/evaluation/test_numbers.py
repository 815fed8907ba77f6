"""Issue 18: the evaluator's and the threshold selection's NUMBERS, recomputed independently.

A tiny UNet is trained for a few epochs on synthetic cells whose images also hold a dark decoy disc
(not nucleus) and a light spot inside the nucleus (nucleus in the mask), so that keeping the largest
component and filling holes really change the masks. The expectations are recomputed here with numpy,
scipy.ndimage and the models' own predictions (keras), never with the toolkit's scoring, TTA or clean-up
code: per_image.csv, evaluation.csv and model_info.json must match them, and each test also checks
that the behaviour it names changes the numbers on this data (so dropping it would fail the test).
"""

import csv
from dataclasses import replace
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from conftest import COPY_PREFIXES, copy_of, tiny_model_section, write_config
from flexunet.config import load_config
from flexunet.evaluation.compare import paired_difference, read_per_image
from flexunet.evaluation.run import run_evaluation
from flexunet.training.run import run_training
from flexunet.training.setup import training_splits

MODEL_SIZE = 64
EVAL_SIZE = 96            # evaluation images are larger than the model: the evaluator resizes them
MASK_THRESHOLD = 100      # not the default 128: resized masks have grey edges where the two differ
CANDIDATES = [k / 20 for k in range(1, 20)]   # 0.05, 0.10, ..., 0.95
# A probability this close to a threshold may fall on either side in float32 versus float64 sums
# (the toolkit averages TTA views in float32, this file in float64): such pixels are counted and
# allowed to differ, everything else must match exactly. On this data there are usually none.
AMBIGUOUS = 1e-6
CSV_DECIMALS = 1e-6       # csv_text writes floats with 6 decimals


# ----------------------------------------------------------------------------- data


def decoy_cell(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy light background, a dark nucleus disc with a light spot in its middle (the mask is the
    whole disc) and a smaller dark decoy disc that is not in the mask; RGB uint8 and 0/255 mask."""
    yy, xx = np.mgrid[0:size, 0:size]
    r = int(rng.integers(size // 7, size // 5))
    cy, cx = rng.integers(r + 2, size // 2, 2)
    inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
    spot = (yy - cy) ** 2 + (xx - cx) ** 2 <= (r // 3) ** 2
    dr = max(3, r // 2)
    dy, dx = rng.integers(size // 2 + dr, size - dr - 1, 2)
    decoy = (yy - dy) ** 2 + (xx - dx) ** 2 <= dr ** 2
    image = np.empty((size, size, 3))
    image[:] = np.array([200, 170, 190]) + rng.integers(-10, 10, 3)
    image += rng.normal(0, 4, image.shape)
    image[inside] = np.array([70, 40, 110]) + rng.normal(0, 4, (int(inside.sum()), 3))
    image[spot] = np.array([190, 165, 185])
    image[decoy] = np.array([75, 45, 115]) + rng.normal(0, 4, (int(decoy.sum()), 3))
    return np.clip(image, 0, 255).astype(np.uint8), np.where(inside, 255, 0).astype(np.uint8)


def write_cells(root: Path, cells: list[str], size: int, seed: int) -> dict[str, str]:
    """images/<prefix><cell>.jpg and masks/<prefix><cell>.png (4 copies a cell); {file name: cell}."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    files = {}
    for cell in cells:
        image, mask = decoy_cell(rng, size)
        for prefix in COPY_PREFIXES:
            Image.fromarray(copy_of(image, prefix)).save(root / "images" / f"{prefix}{cell}.jpg", quality=95)
            Image.fromarray(copy_of(mask, prefix)).save(root / "masks" / f"{prefix}{cell}.png")
            files[f"{prefix}{cell}.jpg"] = cell
    return files


def read_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def read_grey(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"))


def evaluated_arrays(root: Path, files: dict[str, str], size: int = MODEL_SIZE, threshold: int = MASK_THRESHOLD):
    """(names, images float32 (N, size, size, 3), truths bool) as the evaluator should see them: read,
    resized bilinearly to the model size; masks resized the same way and taken > threshold."""
    names = sorted(files)
    images = np.stack([cv2.resize(read_rgb(root / "images" / n), (size, size), interpolation=cv2.INTER_LINEAR)
                       for n in names]).astype(np.float32)
    truths = np.stack([cv2.resize(read_grey(root / "masks" / f"{Path(n).stem}.png"), (size, size),
                                  interpolation=cv2.INTER_LINEAR) > threshold for n in names])
    return names, images, truths


# ----------------------------------------------------------------------------- independent maths


def predict(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Sigmoid probabilities (N, H, W) as float64, the whole array in one batch."""
    return model.predict(np.ascontiguousarray(images, np.float32), batch_size=len(images), verbose=0)[..., 0].astype(
        np.float64)


def flips4(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Mean of the 4 mirror views (none, left-right, up-down, both), each mapped back."""
    views = []
    for axes in ((), (2,), (1,), (1, 2)):
        flipped = np.flip(images, axes) if axes else images
        probs = predict(model, flipped)
        views.append(np.flip(probs, axes) if axes else probs)
    return np.mean(views, axis=0)


def dihedral8(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Mean of the 8 right-angle rotations of the image and of its mirror, each mapped back."""
    views = []
    for mirror in (False, True):
        base = images[:, :, ::-1] if mirror else images
        for k in range(4):
            probs = np.rot90(predict(model, np.rot90(base, k, axes=(1, 2))), -k, axes=(1, 2))
            views.append(probs[:, :, ::-1] if mirror else probs)
    return np.mean(views, axis=0)


def largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), int))       # 8-connected
    if count <= 1:
        return mask
    areas = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    return labels == 1 + int(np.argmax(areas))


def cleaned(mask: np.ndarray, keep_largest: bool, fill_holes: bool) -> np.ndarray:
    if keep_largest:
        mask = largest_component(mask)
    if fill_holes:
        mask = ndimage.binary_fill_holes(mask)           # background 4-connected to the border stays
    return mask


def counts(truth: np.ndarray, pred: np.ndarray) -> tuple[int, int, int]:
    return int((truth & pred).sum()), int((~truth & pred).sum()), int((truth & ~pred).sum())


def dice(tp: int, fp: int, fn: int) -> float:
    return 1.0 if 2 * tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def scores(tp: int, fp: int, fn: int) -> dict:
    """Per-image scores; both masks empty scores 1 everywhere; a ratio over nothing is 1 when the
    other error is also 0, else 0."""
    return {"dice": dice(tp, fp, fn), "iou": 1.0 if tp + fp + fn == 0 else tp / (tp + fp + fn),
            "precision": tp / (tp + fp) if tp + fp else float(fn == 0),
            "recall": tp / (tp + fn) if tp + fn else float(fp == 0),
            "true_pixels": tp + fn, "pred_pixels": tp + fp, "tp": tp, "fp": fp, "fn": fn}


def expected_rows(names, truths, probs, threshold, keep_largest, fill_holes) -> dict[str, dict]:
    rows = {}
    for name, truth, p in zip(names, truths, probs):
        mask = cleaned(p > threshold, keep_largest, fill_holes)
        rows[name] = {**scores(*counts(truth, mask)), "ambiguous": int((np.abs(p - threshold) < AMBIGUOUS).sum())}
    return rows


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def matches(got: dict, want: dict) -> bool:
    """A per_image.csv row against an expected row: counts exact (up to ambiguous pixels), scores to 1e-6."""
    slack = want["ambiguous"]
    if int(got["true_pixels"]) != want["true_pixels"] or abs(int(got["pred_pixels"]) - want["pred_pixels"]) > slack:
        return False
    if slack:
        return abs(float(got["dice"]) - want["dice"]) <= CSV_DECIMALS + 4 * slack / max(want["true_pixels"], 1)
    return all(abs(float(got[k]) - want[k]) <= CSV_DECIMALS for k in ("dice", "iou", "precision", "recall"))


def check_evaluation(out: Path, files: dict[str, str], expected: dict[str, dict], rule: tuple) -> None:
    """per_image.csv row by row and evaluation.csv's pooled and mean scores against `expected`."""
    rows = {r["file"]: r for r in read_csv(out / "per_image.csv")}
    assert sorted(rows) == sorted(files)
    for name, want in expected.items():
        got = rows[name]
        assert got["source_cell"] == files[name], name
        assert matches(got, want), (name, {k: got[k] for k in ("dice", "iou", "precision", "recall", "true_pixels",
                                                               "pred_pixels")}, want)
    metrics = {r["metric"]: r["value"] for r in read_csv(out / "evaluation.csv")}
    tp, fp, fn = (sum(w[k] for w in expected.values()) for k in ("tp", "fp", "fn"))
    slack = sum(w["ambiguous"] for w in expected.values())
    tol = CSV_DECIMALS + 4 * slack / max(2 * tp + fp + fn, 1)
    assert float(metrics["pixel_dice"]) == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=tol)
    assert float(metrics["pixel_iou"]) == pytest.approx(tp / (tp + fp + fn), abs=tol)
    assert float(metrics["pixel_precision"]) == pytest.approx(tp / (tp + fp), abs=tol)
    assert float(metrics["pixel_recall"]) == pytest.approx(tp / (tp + fn), abs=tol)
    assert float(metrics["mean_dice"]) == pytest.approx(np.mean([w["dice"] for w in expected.values()]), abs=tol)
    assert float(metrics["mean_iou"]) == pytest.approx(np.mean([w["iou"] for w in expected.values()]), abs=tol)
    assert int(metrics["images"]) == len(files) and int(metrics["source_cells"]) == len(set(files.values()))
    threshold, keep_largest, fill_holes = rule
    assert float(metrics["threshold"]) == pytest.approx(threshold, abs=CSV_DECIMALS)
    assert (int(metrics["keep_largest"]), int(metrics["fill_holes"])) == (int(keep_largest), int(fill_holes))


def differs(out: Path, expected: dict[str, dict]) -> bool:
    """True when per_image.csv does not match `expected` (a wrong recomputation must be told apart)."""
    rows = {r["file"]: r for r in read_csv(out / "per_image.csv")}
    return any(not matches(rows[name], want) for name, want in expected.items())


def rule_of(config, info) -> tuple[float, bool, bool]:
    """(threshold, keep_largest, fill_holes) the evaluator must apply: model_info.json's threshold, each
    clean-up as [postprocess] sets it or, where it says "auto", as model_info.json chose it."""
    post = config.postprocess
    pick = lambda setting, chosen: bool(chosen) if setting == "auto" else bool(setting)  # noqa: E731
    return float(info.threshold), pick(post.keep_largest, info.keep_largest), pick(post.fill_holes, info.fill_holes)


def best_threshold(per_threshold: list[tuple[int, int, int]]) -> tuple[float, float]:
    """The candidate with the highest pooled Dice; ties to the one nearest 0.5."""
    scored = [(dice(*c), -abs(t - 0.5), t) for t, c in zip(CANDIDATES, per_threshold)]
    best = max(scored, key=lambda s: (round(s[0], 12), s[1]))
    return best[2], best[0]


def selection_table(probs: np.ndarray, truths: np.ndarray) -> dict[tuple[bool, bool], tuple[float, float, int]]:
    """{(keep_largest, fill_holes): (best threshold, its pooled Dice, ambiguous pixels)} of the masks
    cleaned up image by image, TP/FP/FN pooled over the images for each candidate threshold."""
    near = int(sum((np.abs(probs - t) < AMBIGUOUS).sum() for t in CANDIDATES))
    table = {}
    for largest in (False, True):
        for holes in (False, True):
            per_threshold = [tuple(map(sum, zip(*(counts(truth, cleaned(p > t, largest, holes))
                                                   for p, truth in zip(probs, truths)))))
                             for t in CANDIDATES]
            table[(largest, holes)] = (*best_threshold(per_threshold), near)
    return table


# ----------------------------------------------------------------------------- trained models


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("numbers")
    train = write_cells(root / "train", [f"cell{k}" for k in range(6)], MODEL_SIZE, seed=0)
    evaluate = write_cells(root / "eval", ["e0", "e1", "e2"], EVAL_SIZE, seed=5)
    return root, train, evaluate


def train(data, name: str, train_extra: dict | None = None, **postprocess):
    root, _, _ = data
    folder = root / name
    folder.mkdir()
    sections = {
        "model": tiny_model_section(base_filters=8, learning_rate=1e-2),
        "train": {"epochs": 3, "batch_size": 4, "patience": 0, "image_datapath": f'"{root / "train" / "images"}"',
                  "mask_datapath": f'"{root / "train" / "masks"}"', **(train_extra or {})},
        "eval": {"image_datapath": f'"{root / "eval" / "images"}"', "mask_datapath": f'"{root / "eval" / "masks"}"',
                 "output_dir": '"./eval_output"'},
        "mask": {"threshold": MASK_THRESHOLD},
        "postprocess": postprocess,
    }
    config = load_config(write_config(folder, **sections))
    return folder, config, run_training(config, verbose=0)


@pytest.fixture(scope="module")
def plain(data):
    """One model; the clean-ups left to validation ("auto")."""
    return train(data, "plain", tta=False, keep_largest='"auto"', fill_holes='"auto"')


@pytest.fixture(scope="module")
def ensemble(data):
    return train(data, "ensemble", {"ensemble": 2}, tta=False, keep_largest=False, fill_holes=False)


@pytest.fixture(scope="module")
def tta_cleanup(data):
    """8-view TTA with both clean-ups forced on."""
    return train(data, "tta", tta=True, tta_rot90=True, keep_largest=True, fill_holes=True)


# ----------------------------------------------------------------------------- 1. evaluation numbers


def test_plain_model_evaluation_numbers_are_recomputed_exactly(data, plain):
    root, _, files = data
    folder, config, info = plain
    run_evaluation(config, "eval")
    names, images, truths = evaluated_arrays(root / "eval", files)
    model = keras.saving.load_model(folder / "models" / "best_model.keras", safe_mode=True)
    rule = rule_of(config, info)
    expected = expected_rows(names, truths, predict(model, images), *rule)
    check_evaluation(folder / "eval_output", files, expected, rule)
    # the [mask] threshold is what the truth is scored against: the default 128 gives other counts here
    _, _, truths_128 = evaluated_arrays(root / "eval", files, threshold=128)
    assert (truths_128.sum(axis=(1, 2)) != truths.sum(axis=(1, 2))).any()
    assert differs(folder / "eval_output", expected_rows(names, truths_128, predict(model, images), *rule))


def test_ensemble_evaluation_scores_the_mean_of_the_members(data, ensemble):
    root, _, files = data
    folder, config, info = ensemble
    assert info.members == ("member_0", "member_1")
    run_evaluation(config, "eval")
    names, images, truths = evaluated_arrays(root / "eval", files)
    members = [keras.saving.load_model(folder / "models" / f"member_{k}" / "best_model.keras", safe_mode=True)
               for k in range(2)]
    probs = [predict(m, images) for m in members]
    rule = rule_of(config, info)
    assert rule[1:] == (False, False)
    expected = expected_rows(names, truths, (probs[0] + probs[1]) / 2, *rule)
    check_evaluation(folder / "eval_output", files, expected, rule)
    # scoring member 0 (or member 1) alone would not pass: the members' masks differ on this data
    for alone in probs:
        assert differs(folder / "eval_output", expected_rows(names, truths, alone, *rule))


def test_tta_and_cleanup_evaluation_numbers(data, tta_cleanup):
    """[postprocess] tta (4 flips) with keep_largest and fill_holes: the mean of the 4 flipped-back views,
    thresholded at model_info.json's threshold, then the largest component, then holes filled."""
    root, _, files = data
    folder, config, info = tta_cleanup
    out = folder / "eval_tta4"
    config = replace(config, postprocess=replace(config.postprocess, tta_rot90=False),
                     eval=replace(config.eval, output_dir=str(out)))
    run_evaluation(config, "eval")
    names, images, truths = evaluated_arrays(root / "eval", files)
    model = keras.saving.load_model(folder / "models" / "best_model.keras", safe_mode=True)
    rule = rule_of(config, info)
    assert rule[1:] == (True, True)
    probs = flips4(model, images)
    expected = expected_rows(names, truths, probs, *rule)
    check_evaluation(out, files, expected, rule)
    # without the TTA, or without either clean-up, the numbers would differ on this data
    assert differs(out, expected_rows(names, truths, predict(model, images), *rule))
    assert differs(out, expected_rows(names, truths, probs, rule[0], False, True))
    assert differs(out, expected_rows(names, truths, probs, rule[0], True, False))


# ----------------------------------------------------------------------------- 2. threshold selection


def test_threshold_selection_is_recomputed_with_8_view_tta_and_cleanup(tta_cleanup):
    """model_info.json's threshold and validation Dice are the best pooled Dice over 0.05..0.95 of the
    8-view TTA masks, cleaned up, on the validation cells; every clean-up's option is recomputed too."""
    _, config, info = tta_cleanup
    _, validation, _ = training_splits(config)[0]
    assert len(validation) > 0
    images = np.stack([read_rgb(p.image) for p in validation.pairs]).astype(np.float32)
    truths = np.stack([read_grey(p.mask) > MASK_THRESHOLD for p in validation.pairs])
    model = keras.saving.load_model(Path(config.train.model_dir) / "best_model.keras", safe_mode=True)
    table = selection_table(dihedral8(model, images), truths)

    def agree(option: tuple[float, float, int], threshold: float, validation_dice: float) -> bool:
        best, best_dice, near = option
        tol = 1e-9 if near == 0 else 4 * near / truths.sum()    # float32 vs float64 sums at a threshold
        return abs(best - threshold) < 1e-9 and abs(best_dice - validation_dice) <= tol

    chosen = table[(True, True)]                     # both clean-ups are forced on in [postprocess]
    assert (info.keep_largest, info.fill_holes) == (True, True)
    assert agree(chosen, info.threshold, info.validation_dice), (chosen, info)
    saved = {(o.keep_largest, o.fill_holes): o for o in info.validation_options}
    assert set(saved) == set(table)
    for cleanup, option in table.items():
        assert agree(option, saved[cleanup].threshold, saved[cleanup].validation_dice), (cleanup, option)

    # Dropping the TTA (or using 4 views instead of 8), or dropping the clean-up, gives another
    # threshold or Dice on this data, so a selection that skipped them would fail the checks above.
    plain = selection_table(predict(model, images), truths)[(True, True)]
    four = selection_table(flips4(model, images), truths)[(True, True)]
    raw = table[(False, False)]
    for other in (plain, four, raw):
        assert not agree(other, info.threshold, info.validation_dice), other


# ----------------------------------------------------------------------------- 5. all-empty regression


PER_IMAGE_HEADER = "file,source_cell,dice,iou,precision,recall,true_pixels,pred_pixels\n"


def test_paired_difference_of_all_empty_evaluations_is_perfect_and_equal(tmp_path):
    """Every image with empty truth and empty prediction: Dice 1 for both (it once scored 0), difference 0."""
    lines = [f"{prefix}c{k}.BMP,c{k},1.000000,1.000000,1.000000,1.000000,0,0\n"
             for k in range(5) for prefix in ("", "mirrored_")]
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text(PER_IMAGE_HEADER + "".join(lines))
    baseline, candidate = read_per_image(tmp_path / "a.csv"), read_per_image(tmp_path / "b.csv")
    assert [(r["tp"], r["fp"], r["fn"]) for r in baseline] == [(0, 0, 0)] * 10
    result = paired_difference(baseline, candidate)
    assert result["cells"] == 5
    assert (result["baseline_dice"], result["candidate_dice"]) == (1.0, 1.0)
    assert (result["difference"], result["difference_low"], result["difference_high"]) == (0.0, 0.0, 0.0)


def test_paired_difference_of_empty_truth_against_a_false_alarm(tmp_path):
    """Empty truth everywhere: the baseline predicts nothing (Dice 1), the candidate 7 false pixels on one
    image (pooled Dice 2*0 / (0 + 7 + 0) = 0): difference exactly -1."""
    (tmp_path / "a.csv").write_text(PER_IMAGE_HEADER + "x.BMP,x,1.000000,1.000000,1.000000,1.000000,0,0\n"
                                    "y.BMP,y,1.000000,1.000000,1.000000,1.000000,0,0\n")
    (tmp_path / "b.csv").write_text(PER_IMAGE_HEADER + "x.BMP,x,0.000000,0.000000,0.000000,0.000000,0,7\n"
                                    "y.BMP,y,1.000000,1.000000,1.000000,1.000000,0,0\n")
    result = paired_difference(read_per_image(tmp_path / "a.csv"), read_per_image(tmp_path / "b.csv"))
    assert (result["baseline_dice"], result["candidate_dice"], result["difference"]) == (1.0, 0.0, -1.0)
