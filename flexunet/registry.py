"""Name look-ups with closest-match suggestions: the one home of every "unknown name" message."""

import difflib
from collections.abc import Collection, Iterable, Mapping
from typing import TypeVar

from flexunet.errors import ConfigError

T = TypeVar("T")


def closest(name: str, choices: Iterable[str]) -> str | None:
    """Return the choice closest to `name`, or None when nothing is close."""
    matches = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(name: str, choices: Iterable[str], shown: str = "'{}'") -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    hint = closest(name, choices)
    return f" (did you mean {shown.format(hint)}?)" if hint else ""


def unknown(what: str, name: str, choices: Iterable[str], kind: str = "name", listed: str = "choices",
            error: type[Exception] = ConfigError, sort: bool = True, hint_format: str = "'{}'",
            extra: str = "") -> Exception:
    """The error for an unknown `kind` at `what`, with the closest choice and the list of choices.

    e.g. "[model] loss in ./x.config: unknown name 'bce_iou' (did you mean 'bce_iou_loss'?);
    choices: ...". For a "key", "section" or "class", `what` already names it, so the name is
    not repeated. `extra` is more advice after the suggestion.
    """
    choices = [str(c) for c in choices]
    shown = "" if kind in ("key", "section", "class") else f" {name!r}"
    hint = did_you_mean(name, choices, hint_format)
    listing = ", ".join(sorted(choices) if sort else choices)
    return error(f"{what}: unknown {kind}{shown}{hint}{extra}; {listed}: {listing}")


def look_up_option(name: str, options: Mapping[str, T] | Collection[str], what: str) -> T | str:
    """options[name] (a mapping), or name itself when it is one of the options (a collection of names);
    an unknown name raises ConfigError listing the choices.

    `what` names the setting, e.g. "[model] loss in ./train_eval_infer.config".
    """
    if isinstance(name, str) and name in options:
        return options[name] if isinstance(options, Mapping) else name
    raise unknown(what, name, options)
