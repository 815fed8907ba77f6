"""Value specs: each turns a parsed INI literal into a typed value or says what it expected."""

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Bare:
    """An INI value that is not a Python literal, kept as its raw text (e.g. ./models)."""

    text: str


class SpecError(ValueError):
    """A value does not fit its spec; the message is the 'expected ...' phrase."""


def shown(value: Any) -> str:
    """How a received value appears in an error message."""
    return repr(value.text) if isinstance(value, Bare) else repr(value)


def _fail(expected: str, value: Any):
    raise SpecError(f"expected {expected}, got {shown(value)}")


@dataclass(frozen=True)
class Int:
    min: int | None = None
    max: int | None = None

    def describe(self) -> str:
        if self.min == 1 and self.max is None:
            return "a positive int"
        if self.min == 0 and self.max is None:
            return "an int >= 0"
        if self.min is not None and self.max is not None:
            return f"an int from {self.min} to {self.max}"
        if self.min is not None:
            return f"an int >= {self.min}"
        return "an int"

    def parse(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(self.describe(), value)
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            _fail(self.describe(), value)
        return value


@dataclass(frozen=True)
class Float:
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False

    def describe(self) -> str:
        lo = "" if self.min is None else f"{'>' if self.min_open else '>='} {self.min:g}"
        hi = "" if self.max is None else f"{'<' if self.max_open else '<='} {self.max:g}"
        bounds = " and ".join(b for b in (lo, hi) if b)
        return f"a number {bounds}".rstrip()

    def parse(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(self.describe(), value)
        try:
            number = float(value)
        except OverflowError:
            _fail(self.describe(), value)
        if not math.isfinite(number):
            _fail(self.describe(), value)
        if self.min is not None and (number < self.min or (self.min_open and number == self.min)):
            _fail(self.describe(), value)
        if self.max is not None and (number > self.max or (self.max_open and number == self.max)):
            _fail(self.describe(), value)
        return number


@dataclass(frozen=True)
class Bool:
    def describe(self) -> str:
        return "True or False"

    def parse(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, Bare) and value.text.lower() in ("true", "false"):
            return value.text.lower() == "true"
        _fail(self.describe(), value)


@dataclass(frozen=True)
class BoolOrAuto:
    """True, False, or "auto" (decided later, e.g. on the validation cells)."""

    def describe(self) -> str:
        return "True, False or \"auto\""

    def parse(self, value: Any) -> bool | str:
        text = value.text if isinstance(value, Bare) else value
        if isinstance(text, str) and text.lower() == "auto":
            return "auto"
        try:
            return Bool().parse(value)
        except SpecError:
            _fail(self.describe(), value)


@dataclass(frozen=True)
class Str:
    """A string; quoted in the INI file, or a bare word. `choices` restricts it; `aliases` maps an old
    spelling to its choice."""

    choices: tuple[str, ...] = ()
    aliases: dict = field(default_factory=dict)

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return "a string"

    def parse(self, value: Any) -> str:
        text = value.text if isinstance(value, Bare) else value
        text = self.aliases.get(text, text) if isinstance(text, str) else text
        if not isinstance(text, str) or (self.choices and text not in self.choices):
            _fail(self.describe(), value)
        return text


@dataclass(frozen=True)
class PathSpec:
    """A folder or file path; relative paths resolve against the config file's folder."""

    def describe(self) -> str:
        return "a path string"

    def parse(self, value: Any) -> str:
        text = value.text if isinstance(value, Bare) else value
        if not isinstance(text, str) or not text.strip():
            _fail(self.describe(), value)
        return text.strip()


@dataclass(frozen=True)
class Pair:
    """A pair of equal ints like (3,3); a single int n means (n, n)."""

    min: int = 1
    odd: bool = False

    def describe(self) -> str:
        kind = "odd ints" if self.odd else "ints"
        return f"a pair of equal {kind} >= {self.min} like (3,3)"

    def parse(self, value: Any) -> tuple[int, int]:
        if isinstance(value, int) and not isinstance(value, bool):
            value = (value, value)
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            _fail(self.describe(), value)
        a, b = value
        for v in (a, b):
            if isinstance(v, bool) or not isinstance(v, int) or v < self.min or (self.odd and v % 2 == 0):
                _fail(self.describe(), value)
        if a != b:
            _fail(self.describe(), value)
        return (a, b)


@dataclass(frozen=True)
class ListOf:
    """A list or tuple of items of one spec; a single item is taken as a list of one."""

    item: Any = field(default_factory=Str)
    min_len: int = 0

    def describe(self) -> str:
        return f"a list of {self.item.describe().removeprefix('a ').removeprefix('an ')}s"

    def parse(self, value: Any) -> tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]
        if len(value) < self.min_len:
            _fail(f"{self.describe()} with at least {self.min_len} item(s)", value)
        try:
            return tuple(self.item.parse(v) for v in value)
        except SpecError:
            _fail(self.describe(), value)


@dataclass(frozen=True)
class Optional:
    """None, or a value of the inner spec."""

    inner: Any

    def describe(self) -> str:
        return f"None or {self.inner.describe()}"

    def parse(self, value: Any):
        if value is None or (isinstance(value, Bare) and value.text == "None"):
            return None
        try:
            return self.inner.parse(value)
        except SpecError:
            _fail(self.describe(), value)
