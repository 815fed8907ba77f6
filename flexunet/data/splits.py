"""Training/validation splits following [train] validation, and cross-validation folds for ensembles."""

import sys

from flexunet.config import Config
from flexunet.data.checks import describe_split
from flexunet.data.dataset import PairSource, should_cache
from flexunet.data.pairs import grouped_folds, grouped_split, seed_split
from flexunet.data.sources import dataset_source
from flexunet.errors import ConfigError

Split = tuple[PairSource, PairSource, str]
EVAL_FOLDERS = "the [eval] folders"


def _grouped_how(fraction: float, seed: int) -> str:
    return f"{fraction:g} of the source cells held out (grouped, seed {seed})"


def _eval_source(config: Config) -> PairSource:
    return dataset_source(config, "eval", "for validation = \"eval\"")


def split_sources(config: Config) -> Split:
    """(train, validation, how) following [train] validation."""
    t = config.train
    full = dataset_source(config, "train", "for training")
    if t.validation == "eval":
        return full, _eval_source(config), EVAL_FOLDERS
    stems = [p.image.name for p in full.pairs]
    if t.validation == "grouped":
        train_idx, val_idx = grouped_split(stems, t.validation_split, t.seed)
        how = _grouped_how(t.validation_split, t.seed)
    else:
        train_idx, val_idx = seed_split(len(stems), t.validation_split)
        how = f"the last {t.validation_split:g} of the sorted files (seed behaviour; copies of a cell may leak)"
    if not train_idx or not val_idx:
        raise ConfigError(
            f"{config.where('train', 'validation_split')}: expected a split leaving images on both "
            f"sides, got {len(train_idx)} for training and {len(val_idx)} for validation"
        )
    return full.subset(train_idx), full.subset(val_idx), how


def fold_pool(config: Config) -> tuple[PairSource, list[list[int]], list[str]]:
    """(pool, validation indices per member, how each member validates) for [train] ensemble_folds.

    validation = "grouped": the [train] pairs in folds of validation_split of the files, the first
    fold being the grouped split's validation cells. validation = "eval": the [train] and [eval]
    pairs together; the first fold is the [eval] folders, the others groups of [train] cells of
    about the same number of files.
    """
    t = config.train
    if t.validation == "seed":
        raise ConfigError(f"{config.where('train', 'ensemble_folds')}: expected validation = \"grouped\" or "
                          "\"eval\" (folds need whole source cells), got validation = \"seed\"")
    full = dataset_source(config, "train", "for training")
    stems = [p.image.name for p in full.pairs]
    if t.validation == "eval":
        val = _eval_source(config)
        pool = PairSource(full.pairs + val.pairs, full.size, full.channels, full.opts)
        fraction = len(val) / max(len(full), 1)
        folds = [list(range(len(full), len(pool)))] + grouped_folds(stems, fraction, t.seed, t.ensemble - 1)
        first = EVAL_FOLDERS
    else:
        pool, fraction = full, t.validation_split
        folds = grouped_folds(stems, fraction, t.seed, t.ensemble)
        first = _grouped_how(fraction, t.seed)
    if len(folds) < t.ensemble:
        raise ConfigError(
            f"{config.where('train', 'ensemble')}: expected at most {len(folds)} members with ensemble_folds "
            f"= True (the source cells make {len(folds)} validation groups of {fraction:.3g} of the files), "
            f"got {t.ensemble}"
        )
    hows = [first] + [f"fold {k + 1} of the source cells (grouped, seed {t.seed})" for k in range(1, len(folds))]
    return pool, folds, [f"member {k + 1}: {how}" for k, how in enumerate(hows)]


def member_sources(config: Config) -> list[Split]:
    """(train, validation, how) for each model trained: one, or one per ensemble member.

    Without ensemble_folds every member shares one split; with it, member k validates on fold k.
    Sources are held in memory once when [train] in_memory asks for it (or they are small).
    """
    t = config.train
    if t.ensemble == 1 or not t.ensemble_folds:
        train_src, val_src, how = split_sources(config)
        print(describe_split(train_src.pairs, val_src.pairs, how))
        if should_cache([train_src, val_src], t.in_memory):
            for src, name in ((train_src, "training"), (val_src, "validation")):
                src.cache(desc=f"Loading {name} set", progress=sys.stderr.isatty(), workers=t.workers)
        return [(train_src, val_src, how)] * t.ensemble
    pool, folds, hows = fold_pool(config)
    if should_cache([pool], t.in_memory):
        pool.cache(desc="Loading training and validation sets", progress=sys.stderr.isatty(), workers=t.workers)
    splits = []
    for fold, how in zip(folds, hows):
        held = set(fold)
        splits.append((pool.subset([i for i in range(len(pool)) if i not in held]), pool.subset(fold), how))
    return splits
