"""Read a train_eval_infer.config once into typed, frozen sections (no eval: ast.literal_eval only)."""

import ast
import configparser
import os
from dataclasses import fields, replace

from flexunet.config.checks import check_config
from flexunet.config.sections import PATH_KEYS, SECTIONS, Config
from flexunet.config.spec import Bare, SpecError
from flexunet.errors import ConfigError
from flexunet.registry import unknown

MAX_CONFIG_BYTES = 1 << 20


def literal(text: str) -> object:
    """A Python literal from INI text; text that is no literal comes back as Bare."""
    text = text.strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return Bare(text)


def read_config_text(path: str, expected: str | None = None) -> str:
    """The UTF-8 text of a config file; ConfigError when missing, unreadable, too big, or empty
    while `expected` names what it should hold."""
    if not os.path.exists(path):
        raise ConfigError(f"config file {path}: not found")
    if os.path.isdir(path):
        raise ConfigError(f"config file {path}: expected a file, found a folder")
    try:
        if os.path.getsize(path) > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path}: expected at most 1 MiB, it is larger")
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: expected UTF-8 text, found undecodable bytes") from exc
    if expected and not text.strip():
        raise ConfigError(f"config file {path}: is empty; expected {expected}")
    return text


def parse_ini(path: str, text: str) -> configparser.ConfigParser:
    """configparser over `text` (no interpolation, ; and # comments); ConfigError when not INI."""
    parser = configparser.ConfigParser(
        interpolation=None, inline_comment_prefixes=(";", "#"), strict=True, default_section="\x00"
    )
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"config file {path}: not valid INI ({first})") from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ConfigError(f"config file {path}: not valid INI ({type(exc).__name__})") from exc
    return parser


def _unknown_key(path: str, section: str, name: str) -> ConfigError:
    valid = [f.name for f in fields(SECTIONS[section])]
    elsewhere = [s for s, cls in SECTIONS.items() if s != section and name in cls.__dataclass_fields__]
    extra = f" (it belongs in [{elsewhere[0]}])" if elsewhere else ""
    return unknown(f"[{section}] {name} in {path}", name, valid, "key", "valid keys", sort=False, extra=extra)


def _section(path: str, name: str, items: dict, explicit: set):
    cls = SECTIONS[name]
    known = {f.name: f for f in fields(cls)}
    values = {}
    for key_name, raw in items.items():
        if key_name not in known:
            raise _unknown_key(path, name, key_name)
        spec = known[key_name].metadata["spec"]
        try:
            value = spec.parse(literal(raw))
        except SpecError as exc:
            raise ConfigError(f"[{name}] {key_name} in {path}: {exc}") from None
        if (name, key_name) in PATH_KEYS and value is not None:
            value = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), value))
        values[key_name] = value
        explicit.add((name, key_name))
    return cls(**values)


def _resolve_defaults(path: str, sections: dict, explicit: set) -> None:
    """Relative default paths resolve against the config folder, as set ones do."""
    base = os.path.dirname(os.path.abspath(path))
    for name, obj in sections.items():
        updates = {}
        for section, key_name in PATH_KEYS:
            if section == name and (section, key_name) not in explicit:
                value = getattr(obj, key_name)
                if value is not None:
                    updates[key_name] = os.path.normpath(os.path.join(base, value))
        if updates:
            sections[name] = type(obj)(**{**obj.__dict__, **updates})


def _class_defaults(sections: dict, explicit: set) -> None:
    """With num_classes > 1 the loss and metrics a user left out default to the head's: softmax, cce_dice_loss
    with dice_nucleus (and dice_cytoplasm with three or more classes); cells, cells_loss with cells_dice_cell
    and cells_dice_nucleus."""
    model = sections["model"]
    if model.num_classes == 1:
        return
    cells = model.head == "cells"
    updates = {}
    if ("model", "loss") not in explicit:
        updates["loss"] = "cells_loss" if cells else "cce_dice_loss"
    if ("model", "metrics") not in explicit:
        updates["metrics"] = (("cells_dice_cell", "cells_dice_nucleus") if cells else
                              ("dice_nucleus", "dice_cytoplasm") if model.num_classes >= 3 else ("dice_nucleus",))
    sections["model"] = replace(model, **updates)


def load_config(path: str | os.PathLike) -> Config:
    """Parse and validate a config file; any problem raises ConfigError naming file, section, key."""
    path = str(path)
    parser = parse_ini(path, read_config_text(path, "[model] and [train] sections"))
    sections, explicit = {}, set()
    for raw_name in parser.sections():
        name = raw_name.strip().lower()
        if name not in SECTIONS:
            raise unknown(f"[{raw_name}] in {path}", name, SECTIONS, "section", "valid sections", sort=False,
                          hint_format="[{}]")
        if name in sections:
            raise ConfigError(f"[{raw_name}] in {path}: section appears twice")
        sections[name] = _section(path, name, dict(parser.items(raw_name)), explicit)
    for name, cls in SECTIONS.items():
        sections.setdefault(name, cls())
    _resolve_defaults(path, sections, explicit)
    _class_defaults(sections, explicit)
    config = Config(source=path, explicit=frozenset(explicit), **sections)
    check_config(config)
    return config
