"""Read image_mask_generator.config ([generator] and [maskcolor]) into a typed, frozen config."""

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from flexunet.config.loader import literal, parse_ini, read_config_text
from flexunet.config.sections import key
from flexunet.config.spec import Bool, Int, PathSpec, SpecError, Str, shown
from flexunet.errors import ConfigError
from flexunet.generators.herlev import CLASSES
from flexunet.registry import unknown

DEFAULT_CONFIG = "./image_mask_generator.config"
TARGETS = ("nucleus", "nucleus_cytoplasm")


@dataclass(frozen=True)
class Color:
    """An (r, g, b) triple of ints 0..255."""

    def describe(self) -> str:
        return "an (r, g, b) colour of three ints 0..255 like (255, 255, 255)"

    def parse(self, value: Any) -> tuple[int, int, int]:
        if (not isinstance(value, (tuple, list)) or len(value) != 3
                or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 255 for v in value)):
            raise SpecError(f"expected {self.describe()}, got {shown(value)}")
        return tuple(value)


@dataclass(frozen=True)
class GeneratorSection:
    base_dir: str = key("./New database pictures", PathSpec(),
                        "Folder holding the Herlev class folders (NAME.BMP + NAME-d.bmp).")
    output_dir: str = key("./Smear2005-master", PathSpec(),
                          "Folder for <class>/images and <class>/masks (13 jpg copies per cell).")
    resize: int = key(312, Int(min=2), "Side of the square canvas each cell is pasted on, centred.")
    cropsize: int = key(128, Int(min=1), "Side of the centre crop written; less than resize.")
    seamless_cloning: bool = key(False, Bool(),
                                 "Blend the cell onto its background colour (cv2 seamlessClone).")
    targets: str = key("nucleus", Str(TARGETS),
                       "nucleus = the nucleus painted in the class colour (blurred jpg, the seed's masks); "
                       "nucleus_cytoplasm = label PNGs: 0 background, 128 cytoplasm, 255 nucleus "
                       "(for [model] num_classes = 3).")


@dataclass(frozen=True)
class GeneratorConfig:
    """A parsed generator config and where it came from; classes not in mask_colors get white."""

    source: str
    generator: GeneratorSection = field(default_factory=GeneratorSection)
    mask_colors: dict = field(default_factory=dict)


def _unknown(where: str, what: str, name: str, valid) -> ConfigError:
    return unknown(where, name, valid, what, "valid", sort=False)


def check_sizes(resize: int, cropsize: int, where: Callable[[str], str] = str) -> None:
    """ConfigError unless 1 <= cropsize < resize (as the seed requires); where(key) names the setting."""
    for name, value in (("resize", resize), ("cropsize", cropsize)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where(name)}: expected a positive int, got {value!r}")
    if cropsize >= resize:
        raise ConfigError(f"{where('cropsize')}: expected an int less than resize ({resize}), got {cropsize}")


def check_colors(colors: dict, where: Callable[[str], str]) -> dict[str, tuple[int, int, int]]:
    """{class: (r, g, b)} from {class: value}; ConfigError naming where(class) for a value that is no colour."""
    checked = {}
    for name, value in (colors or {}).items():
        try:
            checked[name] = Color().parse(value)
        except SpecError as exc:
            raise ConfigError(f"{where(name)}: {exc}") from None
    return checked


def _generator_section(path: str, items: dict) -> GeneratorSection:
    known = {f.name: f for f in fields(GeneratorSection)}
    base = os.path.dirname(os.path.abspath(path))
    values = {}
    for name, raw in items.items():
        if name not in known:
            raise _unknown(f"[generator] {name} in {path}", "key", name, list(known))
        try:
            values[name] = known[name].metadata["spec"].parse(literal(raw))
        except SpecError as exc:
            raise ConfigError(f"[generator] {name} in {path}: {exc}") from None
    for name in ("base_dir", "output_dir"):
        values[name] = os.path.normpath(os.path.join(base, values.get(name, known[name].default)))
    section = GeneratorSection(**values)
    check_sizes(section.resize, section.cropsize, lambda name: f"[generator] {name} in {path}")
    return section


def _mask_colors(path: str, items: dict) -> dict:
    for name in items:
        if name not in CLASSES:
            raise _unknown(f"[maskcolor] {name} in {path}", "class", name, CLASSES)
    return check_colors({name: literal(raw) for name, raw in items.items()},
                        lambda name: f"[maskcolor] {name} in {path}")


def load_generator_config(path: str | os.PathLike = DEFAULT_CONFIG) -> GeneratorConfig:
    """Parse and check a generator config; relative paths resolve against the config's folder."""
    path = str(path)
    parser = parse_ini(path, read_config_text(path))
    sections: dict[str, dict] = {}
    for raw_name in parser.sections():
        name = raw_name.strip().lower()
        if name not in ("generator", "maskcolor"):
            raise _unknown(f"[{raw_name}] in {path}", "section", name, ["generator", "maskcolor"])
        if name in sections:
            raise ConfigError(f"[{raw_name}] in {path}: expected once, the section appears twice")
        sections[name] = dict(parser.items(raw_name))
    return GeneratorConfig(
        source=path,
        generator=_generator_section(path, sections.get("generator", {})),
        mask_colors=_mask_colors(path, sections.get("maskcolor", {})),
    )
