"""Where a result came from: the commit, the command, the time, the library versions and the machine.

Every result file the toolkit writes (bench/results/*.json, each entry of quality.json, the demo's
--record) holds one `provenance` record, read and written only here.
"""

import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

from flexunet.errors import FlexUNetError
from flexunet.fsutil import atomic_write_text

KEY = "provenance"
REPO = Path(__file__).resolve().parents[1]
GIT_TIMEOUT_S = 10
PACKAGES = ("tensorflow", "keras", "jax", "jaxlib", "numpy", "opencv-python-headless", "opencv-python",
            "scikit-image", "scipy", "pillow", "onnx", "tf2onnx")
REQUIRED = ("commit", "command", "timestamp", "versions", "cpu_model")
MAY_BE_UNRECORDED = ("cpu_model",)  # runs from before it was recorded did not record it; git history cannot tell


class ProvenanceError(FlexUNetError):
    """A provenance record is missing, malformed or lacks a field a result must have."""


@dataclass(frozen=True)
class Provenance:
    """One run's origin. `dirty`: tracked files differed from `commit`. `no_commit`: why `commit` is None.
    `recovered`: set only on records rebuilt afterwards (from git history), saying how; `unrecorded` then
    names the fields that run did not record (left None, never guessed)."""

    commit: str | None
    dirty: bool | None
    command: str
    timestamp: str
    versions: dict[str, str]
    cpu_model: str | None
    usable_cores: int | None
    backend: str | None
    no_commit: str | None = None
    recovered: str | None = None
    unrecorded: tuple[str, ...] = ()

    @classmethod
    def collect(cls, command: str | None = None, repo: Path = REPO) -> "Provenance":
        """This process's provenance now; `command` defaults to the command line it was started with."""
        commit, dirty, no_commit = git_state(repo)
        return cls(commit=commit, dirty=dirty, command=command or command_line(), timestamp=now(),
                   versions=versions(), cpu_model=cpu_model(), usable_cores=usable_cores(), backend=backend(),
                   no_commit=no_commit)

    def to_json(self) -> dict:
        data = asdict(self)
        data["unrecorded"] = list(self.unrecorded)
        return data

    @classmethod
    def from_json(cls, data: object) -> "Provenance":
        """The record of a result's `provenance` value; ProvenanceError names a missing or unknown key."""
        if not isinstance(data, dict):
            raise ProvenanceError(f"expected a JSON object, got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        missing = [name for name, f in known.items()
                   if name not in data and f.default is MISSING and f.default_factory is MISSING]
        if unknown or missing:
            raise ProvenanceError("; ".join([f"missing key {k!r}" for k in missing] +
                                            [f"unknown key {k!r}" for k in unknown]))
        if not isinstance(data["versions"], dict):
            raise ProvenanceError(f"versions: expected an object of name: version, got {data['versions']!r}")
        return cls(**{**data, "unrecorded": tuple(data.get("unrecorded", ()))})

    def problems(self) -> list[str]:
        """Why this record cannot vouch for a result: each required field that is empty (a recovered record
        may name a field of MAY_BE_UNRECORDED as unrecorded instead); a timestamp that is not ISO 8601 with a
        time zone."""
        found = []
        for name in REQUIRED:
            excused = self.recovered and name in self.unrecorded and name in MAY_BE_UNRECORDED
            if getattr(self, name) in (None, "", {}) and not excused:
                reason = f" ({self.no_commit})" if name == "commit" and self.no_commit else ""
                found.append(f"no {name}{reason}")
        if self.timestamp and not has_time_zone(self.timestamp):
            found.append(f"timestamp {self.timestamp!r} is not ISO 8601 with a time zone")
        if self.unrecorded and not self.recovered:
            found.append("unrecorded fields without a recovered note")
        return found


def result_problems(result: dict) -> list[str]:
    """What keeps `result` (a result file's object, or one quality.json entry) from stating its provenance."""
    if KEY not in result:
        return [f"no {KEY} record"]
    try:
        return Provenance.from_json(result[KEY]).problems()
    except ProvenanceError as exc:
        return [f"{KEY}: {exc}"]


def write_json(path: Path, data: dict) -> None:
    """`data` as indented JSON at `path`, in one rename (never a half-written file)."""
    atomic_write_text(path, json.dumps(data, indent=1, default=str) + "\n")


def write_result_json(path: Path, data: dict, provenance: Provenance) -> None:
    """One result file: its provenance record first, then `data`; written atomically."""
    write_json(path, {KEY: provenance.to_json(), **{k: v for k, v in data.items() if k != KEY}})


def git_state(repo: Path) -> tuple[str | None, bool | None, str | None]:
    """(commit, dirty, None), or (None, None, why) when git is missing, times out or `repo` is no repository."""
    try:
        commit = _git(repo, "rev-parse", "HEAD")
        dirty = bool(_git(repo, "status", "--porcelain", "--untracked-files=no"))
    except FileNotFoundError:
        return None, None, "git is not installed"
    except subprocess.TimeoutExpired:
        return None, None, f"git did not answer within {GIT_TIMEOUT_S} s"
    except subprocess.CalledProcessError as exc:
        message = (exc.stderr or "").strip().splitlines()
        return None, None, f"git failed: {message[0] if message else f'exit code {exc.returncode}'}"
    return commit, dirty, None


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          timeout=GIT_TIMEOUT_S, env=env, stdin=subprocess.DEVNULL)
    return done.stdout.strip()


def command_line() -> str:
    """The command line this process was started with, the interpreter by its file name (python -m ...)."""
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    return shlex.join([Path(argv[0]).name, *argv[1:]])


def now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def has_time_zone(timestamp: str) -> bool:
    try:
        return datetime.datetime.fromisoformat(timestamp).tzinfo is not None
    except ValueError:
        return False


def versions() -> dict[str, str]:
    """Python's version and each installed package of PACKAGES'."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def cpu_model() -> str | None:
    """The CPU's model name (/proc/cpuinfo on Linux, else the platform's processor string), or None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def usable_cores() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def backend() -> str | None:
    """The Keras backend in use when Keras is loaded, else the one KERAS_BACKEND asks for (None if unset)."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND")
