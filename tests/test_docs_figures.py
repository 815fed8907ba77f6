"""README.md and docs/*.md state no measured figure outside the blocks bench.report builds from bench/results/.

A figure in prose drifts from the results it came from; inside a generated block a test keeps it equal
(tests/test_bench_report.py). The scan skips generated blocks, fenced code, inline code and files that are
generated as a whole (docs/config.md, from the config schema). Settings are not measurements: the tokens
below are allowed, each for the reason given.
"""

import re
from pathlib import Path

import pytest

from bench.report import BLOCK

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WHOLLY_GENERATED = "<!-- Generated from"
ALLOWED = {
    "0.80": "the split ratios 0.80/0.15/0.05 of split_master, the seed's defaults (a setting)",
    "0.15": "the split ratios 0.80/0.15/0.05 (a setting)",
    "0.05": "the split ratio 0.05, and the threshold grid 0.05 to 0.95 in steps of 0.05 (settings)",
    "0.95": "the threshold grid's end, 0.95 (a setting)",
    "0.5": "the fixed 0.5 threshold of metrics and the IoU >= 0.5 pairing of nuclei (settings)",
    "0.005": "the validation-Dice cost above which a hand-set clean-up warns (COSTS_MORE_THAN_A_LITTLE, a setting)",
    "1.5": "the SSIM window's Gaussian sigma, 1.5 (a setting of the loss)",
    "3.11": "the minimum Python version, 3.11 (a requirement: tifffile and zarr 3 need it)",
    "2.15": "the TensorFlow version of the seed's own environment (a requirement of its code)",
    "1 GiB": "the size under which [train] in_memory = None holds a data set in memory (a setting)",
    "95 %": "the level of every interval, 95 % (a setting)",
    "20 %": "the seed's validation share, the last 20 % of sorted files (a setting of the seed)",
    "0.7": "the ISBI 2014 per-cell scores' definition: a cell counts when its Dice is above 0.7 (a definition)",
    "0.6": "the ISBI 2014 nucleus detection rule: overlap above 0.6 both ways (a definition)",
}
DIGITS = r"\d+(?:,\d{3})*(?:\.\d+)?"
NUMBER = rf"(?<![\w.\-−])[−-]?{DIGITS}"  # not inside a word, a version (Apache-2.0) or a range's second half
UNITS = r"(?:ms|s|min|minutes?|h|hours?|seconds?|[KMG]i?B)\b"
FIGURE = re.compile("|".join([
    rf"{NUMBER}\s?%",                                # 5 %, 9.5%
    rf"{NUMBER}\s?[x×](?![\w×]|\s?\d)",              # 1.02x, 1.1× (not 128×128 or 3 × 8)
    rf"{NUMBER}(?:\s?[-–]\s?{DIGITS})?\s?{UNITS}",   # 9 min, 4.4 s, 1–2 s, 356 MB
    r"\b\d+ of (?:the )?\d+\b",                      # 91 of 91
    r"(?<![\w.\-−])[−-]?\d+\.\d+",                   # 0.954, −0.0051
]))
FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
INLINE = re.compile(r"(`+).+?\1", re.DOTALL)


def prose(markdown: str) -> str:
    """The text the scan reads: no generated block, fenced code or inline code."""
    for pattern in (BLOCK, FENCE, INLINE):
        markdown = pattern.sub(" ", markdown)
    return markdown


def tokens(markdown: str) -> list[str]:
    """Every figure-like token of the prose, in order (none in a file generated as a whole)."""
    if WHOLLY_GENERATED in markdown[:500]:
        return []
    return [m[0].strip() for m in FIGURE.finditer(prose(markdown))]


def figures(markdown: str) -> list[str]:
    """The figure-like tokens of the prose that the allowlist does not name."""
    return [t for t in tokens(markdown) if t not in ALLOWED]


@pytest.mark.parametrize("markdown, expected", [
    ("Training is about 5 % slower.", ["5 %"]),
    ("It runs at 1.02x the seed's speed, or 1.1× on a good day.", ["1.02x", "1.1×"]),
    ("The demo takes 9 min; an epoch 4.4 s; a save 1–2 s; a run 30-90 min; 356 MB.",
     ["9 min", "4.4 s", "1–2 s", "30-90 min", "356 MB"]),
    ("It found 91 of 91 cells and 53 of the 53 nuclei.", ["91 of 91", "53 of the 53"]),
    ("Members score 0.954 and −0.0051.", ["0.954", "−0.0051"]),
    ("Apache-2.0, version v1.2 and 0.97-1.15 per repeat.", ["0.97"]),
    ("Masks of 128×128 pixels, 3 × 8 filters, 13 copies, 32 sampled masks, 2,041 images.", []),
    ("Split 0.80/0.15/0.05, thresholds 0.05 to 0.95, 95 % intervals.", []),
    ("<!-- bench:speed -->\n1.02x and 9 min\n<!-- /bench -->\nafter", []),
    ("```sh\npython -m bench.train   # about 15 min\n```\nand `0.954` inline", []),
    ("<!-- Generated from the schema -->\n0.998", []),
    ("before <!-- bench:x -->\n0.9\n<!-- /bench --> after 0.97", ["0.97"]),
])
def test_figures_outside_generated_blocks_and_code_by_hand(markdown, expected):
    assert figures(markdown) == expected


def test_every_allowed_token_is_a_figure_the_scan_would_flag():
    """An allowlist entry the scan would never flag allows nothing and hides a typo."""
    assert [t for t in ALLOWED if not FIGURE.fullmatch(t)] == []


def test_every_allowed_token_is_still_in_the_documents():
    """An allowlist entry no document uses any more is stale: remove it."""
    used = {t for path in DOCUMENTS for t in tokens(path.read_text(encoding="utf-8"))}
    assert sorted(set(ALLOWED) - used) == []


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_no_measured_figure_in_prose(path):
    """Move a measured figure into a block bench.report builds from a committed result, or reword it."""
    assert figures(path.read_text(encoding="utf-8")) == []
