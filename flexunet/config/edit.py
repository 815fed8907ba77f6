"""Write a copy of a config with some keys set (demo and benchmark variants of a shipped config)."""

import configparser
from collections.abc import Iterable
from pathlib import Path


def read_ini(path: str | Path) -> configparser.ConfigParser:
    """The raw INI text of a config by section and key (values unparsed; ; and # comments dropped)."""
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"))
    parser.read(path, encoding="utf-8")
    return parser


def write_variant(source: str | Path, target: str | Path, overrides: dict[str, dict[str, str]],
                  header: str = "", drop: Iterable[str] = ()) -> Path:
    """Copy the INI file `source` to `target` with overrides[section][key] = INI text set (sections
    are added when missing) and the `drop` sections left out; comments are not kept, `header`
    becomes the first line."""
    parser = read_ini(source)
    for section in drop:
        parser.remove_section(section)
    for section, values in overrides.items():
        if not parser.has_section(section):
            parser.add_section(section)
        for key_name, value in values.items():
            parser[section][key_name] = str(value)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8") as handle:
        if header:
            handle.write(f"; {header}\n")
        parser.write(handle)
    return target
