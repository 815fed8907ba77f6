"""Generate docs/config.md, the reference of every config section and key, from the schema."""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from flexunet.config.sections import SECTIONS
from flexunet.config.spec import ListOf, Optional, Pair, PathSpec

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "config.md"
REGENERATE = "python -m flexunet.config.docs"

SECTION_INTROS = {
    "model": "The UNet's architecture and how it is compiled.",
    "train": "Training: data, validation, stopping, output folders.",
    "eval": "Evaluation of the best model (TensorflowUNetEvaluator.py, flexunet-evaluate).",
    "test": "An optional held-out test set, evaluated after [eval] when set.",
    "infer": "Segmentation of every image in a folder (TensorflowUNetInferencer.py, flexunet-infer).",
    "tiledinfer": "Segmentation of large images tile by tile (TensorflowUNetTiledInferencer.py).",
    "mask": "How mask files are read into 0/1 masks.",
    "generator": "The training batch generator.",
    "augmentor": "Online augmentation of training batches, when [generator] augmentation = True.",
    "postprocess": "Optional clean-up of predicted masks.",
}

PREAMBLE = """\
Every command reads one INI file, `./train_eval_infer.config` unless another is named. Values are
Python literals (`128`, `0.5`, `True`, `None`, `(3,3)`, `["a", "b"]`, `"text"`); a value that is no
literal, such as `./models`, is taken as text. Relative paths resolve against the config file's
folder. Unknown sections and keys are errors, with a suggestion for a close name. A key left out
takes its default.
"""


def _spec_kind(spec):
    return spec.inner if isinstance(spec, Optional) else spec


def format_default(value: object, spec: object) -> str:
    """A default written the way it would appear in the INI file."""
    kind = _spec_kind(spec)
    if value is None or isinstance(value, bool):
        return str(value)
    if isinstance(kind, PathSpec):
        return str(value)
    if isinstance(kind, ListOf):
        return "[" + ", ".join(format_default(v, kind.item) for v in value) + "]"
    if isinstance(kind, Pair):
        return f"({value[0]},{value[1]})"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _cell(text: str, code: bool = False) -> str:
    """Text for a Markdown table cell; outside code spans, * and < are escaped too."""
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if code else text.replace("*", "\\*").replace("<", "&lt;")


def section_markdown(name: str, cls) -> str:
    """One section's heading, intro and table of keys."""
    lines = [f"## [{name}]", ""]
    if name in SECTION_INTROS:
        lines += [SECTION_INTROS[name], ""]
    lines += ["| Key | Value | Default | Description |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        spec = f.metadata["spec"]
        kind = spec.describe()
        if isinstance(_spec_kind(spec), PathSpec):
            kind += " (relative to the config file)"
        default = format_default(f.default, spec)
        cells = [f"`{f.name}`", _cell(kind), f"`{_cell(default, code=True)}`", _cell(f.metadata["doc"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def config_markdown() -> str:
    """The whole reference: preamble, a table of contents, then one part per section."""
    parts = [
        "# Config reference",
        "",
        f"<!-- Generated from flexunet/config/sections.py by `{REGENERATE}`; do not edit by hand. -->",
        "",
        PREAMBLE,
        "Sections: " + ", ".join(f"[`[{name}]`](#{name})" for name in SECTIONS) + ".",
        "",
    ]
    parts += [section_markdown(name, cls) for name, cls in SECTIONS.items()]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Write the config reference (default docs/config.md), or with --check say if it is out of date."""
    parser = argparse.ArgumentParser(description="Generate the config reference from the schema.")
    parser.add_argument("output", nargs="?", default=str(DOC_PATH),
                        help=f"Markdown file (default {DOC_PATH})")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file differs from the schema")
    args = parser.parse_args(argv)
    path, text = Path(args.output), config_markdown()
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            print(f"{path} is out of date; regenerate it with: {REGENERATE}", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
