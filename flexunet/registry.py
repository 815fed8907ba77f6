"""Name look-ups shared by losses, metrics and optimizers, with closest-match suggestions."""

import difflib
from typing import Iterable, Mapping, TypeVar

from flexunet.errors import ConfigError

T = TypeVar("T")


def closest(name: str, choices: Iterable[str]) -> str | None:
    """Return the choice closest to `name`, or None when nothing is close."""
    matches = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.5)
    return matches[0] if matches else None


def look_up_option(name: str, options: Mapping[str, T], what: str) -> T:
    """Return options[name]; an unknown name raises ConfigError listing the choices.

    `what` names the setting, e.g. "[model] loss in ./train_eval_infer.config".
    """
    if isinstance(name, str) and name in options:
        return options[name]
    hint = closest(name, options)
    suggestion = f" (did you mean '{hint}'?)" if hint else ""
    raise ConfigError(
        f"{what}: unknown name {name!r}{suggestion}; choices: {', '.join(sorted(options))}"
    )
