"""Safe file-system steps: atomic writes, CSV text, owned folders (replaced only when the toolkit made them),
timestamped backups."""

import csv
import datetime
import errno
import io
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from flexunet.errors import OutputError

OWNER_MARK = ".flexunet-owned"


def _os_problem(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "disk full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied"
    return exc.strerror or str(exc)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> None:
    """Write to a temp file beside `path` (named by process and thread, so concurrent writers never share one),
    then rename it over `path` (never a half-written file); permissions as the umask gives new files.

    `durable` also flushes the data to disk before the rename (checkpoints, CSVs); per-image
    outputs skip that, which is much faster and still never leaves a partial file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, flags, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(f"writing {path}: {_os_problem(exc)}") from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def csv_text(rows: list[dict], columns: list[str]) -> str:
    """CSV of rows with these columns; floats with 6 decimals."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
    return buffer.getvalue()


def _replace_via(tmp: Path, target: Path, write: Callable[[Path], object]) -> None:
    """write(tmp), then rename tmp over target; a left-over tmp is removed, an OSError names the target."""
    try:
        if tmp.exists():
            tmp.unlink()
        write(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"writing {target}: {_os_problem(exc)}") from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_save(path: str | os.PathLike, save: Callable[[str], object]) -> None:
    """Call save(tmp_path) for a temp path with the same suffix, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace_via(path.with_name(f".{path.stem}.partial{path.suffix}"), path, lambda tmp: save(str(tmp)))


def _link_or_copy(source: Path, tmp: Path) -> None:
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copy2(source, tmp)


def atomic_copy(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Make `target` a copy of `source` in one rename: a hard link where possible, else a copy."""
    target = Path(target)
    _replace_via(target.with_name(f".{target.name}.link.tmp"), target, lambda tmp: _link_or_copy(Path(source), tmp))


def is_owned(folder: str | os.PathLike) -> bool:
    return (Path(folder) / OWNER_MARK).exists()


def timestamp() -> str:
    return datetime.datetime.now().strftime("%Y-%m-%d_%H_%M_%S")


def backup_folder(folder: str | os.PathLike) -> Path:
    """Move `folder` to <folder>_<timestamp>_bak (a fresh name) and return the new path."""
    folder = Path(folder)
    target = folder.with_name(f"{folder.name}_{timestamp()}_bak")
    n = 1
    while target.exists():
        target = folder.with_name(f"{folder.name}_{timestamp()}_{n}_bak")
        n += 1
    try:
        shutil.move(str(folder), str(target))
    except OSError as exc:
        raise OutputError(f"moving {folder} to {target}: {_os_problem(exc)}") from exc
    return target


def _check_not_protected(folder: Path, protected: dict[str, Path], what: str) -> None:
    resolved = folder.resolve()
    for label, other in protected.items():
        if other is None:
            continue
        other = Path(other).resolve()
        if resolved == other or other.is_relative_to(resolved):
            raise OutputError(f"{what}: expected a folder of its own, got {folder}, which is or holds the {label}")


def prepare_output_dir(
    folder: str | os.PathLike,
    what: str,
    protected: dict[str, Path] | None = None,
    backup: bool = False,
    keep: bool = False,
) -> Path:
    """Make `folder` ready for this toolkit's outputs.

    A folder the toolkit made earlier (it holds OWNER_MARK) is kept as it is (`keep`), moved to
    <folder>_<timestamp>_bak (`backup`), or else replaced. A non-empty folder the toolkit did
    not make is refused: nothing of the user's is overwritten or deleted.
    """
    folder = Path(folder)
    _check_not_protected(folder, protected or {}, what)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what}: expected a folder, found a file at {folder}")
    if folder.exists() and any(folder.iterdir()):
        if not is_owned(folder):
            raise OutputError(
                f"{what}: {folder} is not empty and was not made by this toolkit; "
                "choose another folder or move its files away"
            )
        if backup and not keep:
            moved = backup_folder(folder)
            print(f"Moved the earlier {folder} to {moved}")
        elif not keep:
            try:
                shutil.rmtree(folder)
            except OSError as exc:
                raise OutputError(f"{what}: cannot replace {folder} ({_os_problem(exc)})") from exc
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / OWNER_MARK).touch()
    except OSError as exc:
        raise OutputError(f"{what}: cannot create {folder} ({_os_problem(exc)})") from exc
    return folder
