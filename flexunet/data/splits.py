"""Training/validation splits (grouped by source cell, the seed's last files, or given folders) and
cross-validation folds for ensembles."""

import sys
from collections.abc import Callable
from dataclasses import dataclass

from flexunet.config.sections import TrainSection
from flexunet.data.checks import describe_split
from flexunet.data.dataset import PairSource, should_cache
from flexunet.data.pairs import grouped_folds, grouped_split, last_files_split
from flexunet.errors import ConfigError

Split = tuple[PairSource, PairSource, str]
EVAL_FOLDERS = "the [eval] folders"


@dataclass(frozen=True)
class SplitOptions:
    """How to validate: mode "grouped" (a fraction of the source cells), "last_files" (the seed's last
    fraction of the sorted files) or "eval" (given folders); members > 1 with folds: one fold each."""

    mode: str = "grouped"
    fraction: float = 0.2
    seed: int = 137
    members: int = 1
    folds: bool = False
    in_memory: bool | None = None
    workers: int = 1


def split_options(train: TrainSection) -> SplitOptions:
    return SplitOptions(train.validation, train.validation_split, train.seed, train.ensemble,
                        train.ensemble_folds, train.in_memory, train.workers)


def _grouped_how(fraction: float, seed: int) -> str:
    return f"{fraction:g} of the source cells held out (grouped, seed {seed})"


def split_source(full: PairSource, opts: SplitOptions, where: Callable[[str], str]) -> Split:
    """(train, validation, how) of one folder by opts.mode "grouped" or "last_files"."""
    names = [p.image.name for p in full.pairs]
    if opts.mode == "grouped":
        train_idx, val_idx = grouped_split(names, opts.fraction, opts.seed)
        how = _grouped_how(opts.fraction, opts.seed)
    else:
        train_idx, val_idx = last_files_split(len(names), opts.fraction)
        how = f"the last {opts.fraction:g} of the sorted files (seed behaviour; copies of a cell may leak)"
    if not train_idx or not val_idx:
        raise ConfigError(
            f"{where('validation_split')}: expected a split leaving images on both "
            f"sides, got {len(train_idx)} for training and {len(val_idx)} for validation"
        )
    return full.subset(train_idx), full.subset(val_idx), how


def fold_pool(full: PairSource, validation: PairSource | None, opts: SplitOptions,
              where: Callable[[str], str]) -> tuple[PairSource, list[list[int]], list[str]]:
    """(pool, validation indices per member, how each member validates) for an ensemble with folds.

    mode "grouped": the training pairs in folds of `fraction` of the files, the first fold being the
    grouped split's validation cells. mode "eval": the training and `validation` pairs together; the
    first fold is `validation`, the others groups of training cells of about the same number of files.
    """
    if opts.mode == "last_files":
        raise ConfigError(f"{where('ensemble_folds')}: expected validation = \"grouped\" or "
                          "\"eval\" (folds need whole source cells), got validation = \"last_files\"")
    names = [p.image.name for p in full.pairs]
    if opts.mode == "eval":
        pool = PairSource(full.pairs + validation.pairs, full.size, full.channels, full.opts)
        fraction = len(validation) / max(len(full), 1)
        folds = [list(range(len(full), len(pool)))] + grouped_folds(names, fraction, opts.seed, opts.members - 1)
        first = EVAL_FOLDERS
    else:
        pool, fraction = full, opts.fraction
        folds = grouped_folds(names, fraction, opts.seed, opts.members)
        first = _grouped_how(fraction, opts.seed)
    if len(folds) < opts.members:
        raise ConfigError(
            f"{where('ensemble')}: expected at most {len(folds)} members with ensemble_folds "
            f"= True (the source cells make {len(folds)} validation groups of {fraction:.3g} of the files), "
            f"got {opts.members}"
        )
    hows = [first] + [f"fold {k + 1} of the source cells (grouped, seed {opts.seed})" for k in range(1, len(folds))]
    return pool, folds, [f"member {k + 1}: {how}" for k, how in enumerate(hows)]


def _cache(sources: list[tuple[PairSource, str]], opts: SplitOptions) -> None:
    if should_cache([s for s, _ in sources], opts.in_memory):
        for source, name in sources:
            source.cache(desc=f"Loading {name}", progress=sys.stderr.isatty(), workers=opts.workers)


def member_sources(full: PairSource, validation: PairSource | None, opts: SplitOptions,
                   where: Callable[[str], str]) -> list[Split]:
    """(train, validation, how) for each model trained: one, or one per ensemble member.

    `validation` is the [eval] source of mode "eval" (None otherwise). Without folds every member
    shares one split; with them, member k validates on fold k. Sources are held in memory once when
    opts.in_memory asks for it (or they are small). `where(key)` names a [train] key for errors.
    """
    if opts.members == 1 or not opts.folds:
        if opts.mode == "eval":
            train_src, val_src, how = full, validation, EVAL_FOLDERS
        else:
            train_src, val_src, how = split_source(full, opts, where)
        print(describe_split(train_src.pairs, val_src.pairs, how))
        _cache([(train_src, "training set"), (val_src, "validation set")], opts)
        return [(train_src, val_src, how)] * opts.members
    pool, folds, hows = fold_pool(full, validation, opts, where)
    _cache([(pool, "training and validation sets")], opts)
    splits = []
    for fold, how in zip(folds, hows):
        held = set(fold)
        splits.append((pool.subset([i for i in range(len(pool)) if i not in held]), pool.subset(fold), how))
    return splits
