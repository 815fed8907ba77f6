"""Folder locks: a training holds its output folders, so a second run into them refuses instead of
replacing them under the first one.

The lock of folder F is the hidden file .F.flexunet-lock beside it (outside F, so replacing or
backing up F never removes it), created atomically, holding the holder's pid, host, process start
time and command. A lock whose process is gone (on this host) is stale: it is reported and taken over.
"""

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from flexunet.errors import OutputError

SUFFIX = ".flexunet-lock"


def lock_path(folder: str | os.PathLike) -> Path:
    folder = Path(folder).resolve()
    return folder.parent / f".{folder.name}{SUFFIX}"


def _start_time(pid: int) -> str | None:
    """The kernel's start time of process `pid` (Linux /proc), to tell a reused pid apart; None elsewhere."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return started is None or _start_time(pid) in (None, started)


def holder_of(folder: str | os.PathLike) -> dict | None:
    """The lock's holder {pid, host, started, since, command} when one is written, else None."""
    try:
        return json.loads(lock_path(folder).read_text())
    except (OSError, ValueError):
        return None


def is_stale(holder: dict) -> bool:
    """True when the holder ran on this host and its process is gone (a different host cannot be checked)."""
    return holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", -1)),
                                                                      holder.get("started"))


def describe(holder: dict) -> str:
    return (f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')} "
            f"({holder.get('command', '?')})")


def note_if_training(folder: str | os.PathLike) -> None:
    """Print a note when a live training holds `folder` (its best model so far is what gets read)."""
    holder = holder_of(folder)
    if holder and not is_stale(holder):
        print(f"Note: {Path(folder)} is being trained ({describe(holder)}); using the best model saved so far")


def acquire(folder: str | os.PathLike, what: str) -> Path:
    """Hold `folder`; OutputError naming the folder and the holder when a live run holds it. A stale
    lock is reported and taken over. Returns the lock file (release it with release())."""
    path = lock_path(folder)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": _start_time(os.getpid()),
          "since": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)[:200]}
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = holder_of(folder)
            if holder is None:
                time.sleep(0.05)
                holder = holder_of(folder) or {"pid": "?", "host": "?", "since": "?"}
            if holder.get("pid") == me["pid"] and holder.get("host") == me["host"]:
                raise OutputError(f"{what}: {Path(folder)} is already held by this process")
            if not is_stale(holder):
                raise OutputError(f"{what}: {Path(folder)} is in use by another training ({describe(holder)}); "
                                  f"wait for it to finish or stop it; if no such run exists, delete {path}")
            print(f"Note: {Path(folder)} was locked by a run that is gone ({describe(holder)}); taking it over")
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(fd, "w") as handle:
            json.dump(me, handle)
        return path
    raise OutputError(f"{what}: cannot lock {Path(folder)}: {path} keeps reappearing")


def release(path: Path) -> None:
    """Remove a lock this process holds (a lock another process took over is left alone)."""
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


@contextlib.contextmanager
def holding(folders: dict[str, str | os.PathLike]) -> Iterator[None]:
    """Hold every {what: folder} for the duration of the block (released on any exit, Ctrl-C included)."""
    held: list[Path] = []
    try:
        for what, folder in folders.items():
            if lock_path(folder) not in held:
                held.append(acquire(folder, what))
        yield
    finally:
        for path in reversed(held):
            release(path)
