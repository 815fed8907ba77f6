"""Run a folder or list of images or slides through a Job on many workers (dask.distributed), restartably.

Each item's outputs and done record appear in out_root/<key>/ in one rename once the job's run() returned;
a restart skips items whose record matches the input's size and mtime; a dead worker costs its item a retry,
not the run; an item whose run() raises is recorded as failed in one line while the others go on.

Workers import the job's class by name: LocalCluster spawns them with this process's sys.path (a script
must start the run under `if __name__ == "__main__":`); a remote cluster's workers need the job's package
installed and the inputs and out_root at the same paths.
"""

import collections
import contextlib
import datetime
import hashlib
import json
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from tqdm import tqdm

from flexunet.errors import ConfigError, DataError, FlexUNetError
from flexunet.fsutil import atomic_write_text, prepare_output_dir

SUMMARY_FILE = "run_summary.json"
PARTIAL, OLD = ".partial-", ".old-"

PathLike = str | os.PathLike


class Job(Protocol):
    """Per-item work; picklable, since it travels to the workers."""

    def key(self, item: Path) -> str:
        """The item's output folder name (e.g. its stem), unique over a run."""

    def setup(self) -> None:
        """Called once per worker process before its first item (e.g. loads the model)."""

    def run(self, item: Path, out_dir: Path) -> dict:
        """Write the item's outputs into out_dir; return a small JSON-able summary such as {"cells": 12}."""


class _Json:
    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


@dataclass(frozen=True)
class RunRecord(_Json):
    """The done record of one item, out_root/<key>/run_record.json."""

    FILE: ClassVar[str] = "run_record.json"
    input: str
    size: int
    mtime_ns: int
    summary: dict
    host: str
    pid: int
    attempt: int
    seconds: float
    finished: str

    @classmethod
    def from_json(cls, text: str) -> "RunRecord":
        return cls(**json.loads(text))

    @classmethod
    def read(cls, folder: PathLike) -> "RunRecord | None":
        """The record in `folder`; None when it is missing or unreadable (the item is then redone)."""
        try:
            return cls.from_json((Path(folder) / cls.FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError):
            return None

    def matches(self, item: Path) -> bool:
        """True when `item` still has the size and mtime this record was made from."""
        try:
            stat = item.stat()
        except OSError:
            return False
        return (self.size, self.mtime_ns) == (stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class RunSummary(_Json):
    """What one run_many() did, out_root/run_summary.json; items are input paths, totals cover done and
    skipped items."""

    items: int
    done: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    retried: tuple[str, ...]
    totals: dict
    seconds: float
    workers: int
    scheduler: str | None
    finished: str

    @classmethod
    def from_json(cls, text: str) -> "RunSummary":
        values = json.loads(text)
        for name in ("done", "skipped", "retried"):
            values[name] = tuple(values[name])
        values["failed"] = tuple((item, message) for item, message in values["failed"])
        return cls(**values)


@dataclass(frozen=True)
class _Outcome:
    item: str
    record: RunRecord | None = None
    message: str = ""


_READY: dict[str, Job] = {}
_READY_LOCK = threading.Lock()


def _ready_job(job: Job, token: str) -> Job:
    """This process's set-up job for `token`: setup() runs once per process; a new job replaces the last."""
    with _READY_LOCK:
        if token not in _READY:
            job.setup()
            _READY.clear()
            _READY[token] = job
        return _READY[token]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, FlexUNetError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _publish(tmp: Path, final: Path) -> None:
    """Rename the finished `tmp` folder to `final`, replacing an earlier `final`."""
    old = final.with_name(f".{final.name}{OLD}{uuid.uuid4().hex[:8]}")
    replaced = final.exists()
    if replaced:
        os.rename(final, old)
    os.rename(tmp, final)
    if replaced:
        shutil.rmtree(old, ignore_errors=True)


def _run_item(job: Job, token: str, item: str, key: str, out_root: str, attempt: int) -> _Outcome:
    """One item, on a worker or in this process: its outputs and done record in place, or a failure line."""
    started = time.monotonic()
    path, final = Path(item), Path(out_root) / key
    tmp = final.with_name(f".{key}{PARTIAL}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        try:
            stat = path.stat()
        except OSError as exc:
            raise DataError(f"{item}: cannot read it ({exc.strerror})") from exc
        ready = _ready_job(job, token)
        tmp.mkdir(parents=True)
        summary = ready.run(path, tmp)
        if not isinstance(summary, dict):
            raise TypeError(f"run() returned a {type(summary).__name__}, expected a dict")
        plain = json.loads(json.dumps(summary, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))
        record = RunRecord(item, stat.st_size, stat.st_mtime_ns, plain, socket.gethostname(), os.getpid(),
                           attempt, round(time.monotonic() - started, 3),
                           datetime.datetime.now().isoformat(timespec="seconds"))
        atomic_write_text(tmp / RunRecord.FILE, record.to_json())
        _publish(tmp, final)
        return _Outcome(item, record)
    except Exception as exc:
        return _Outcome(item, message=_one_line(exc))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _inputs(items: PathLike | Iterable[PathLike]) -> tuple[list[Path], Path | None]:
    """Absolute input paths (a folder gives its non-hidden files, sorted) and that folder, if one."""
    folder = None
    if isinstance(items, (str, os.PathLike)) and Path(items).is_dir():
        folder = Path(items).resolve()
        items = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    elif isinstance(items, (str, os.PathLike)):
        items = [items]
    inputs = [Path(p).resolve() for p in items]
    for path in inputs:
        if not path.is_file():
            raise DataError(f"input {path} not found (or not a file)")
    if not inputs:
        raise DataError(f"no inputs to run: {folder or 'the list'} is empty")
    return inputs, folder


def _keys(job: Job, inputs: list[Path]) -> list[str]:
    """The job's key of each input; DataError for a key that is no plain folder name or is taken twice."""
    seen: dict[str, Path] = {}
    for path in inputs:
        key = job.key(path)
        if not isinstance(key, str) or key in ("", SUMMARY_FILE) or key.startswith(".") or "/" in key \
                or os.sep in key:
            raise DataError(f"input {path}: its output folder name {key!r} is not a plain folder name")
        if key in seen:
            first = seen[key]
            raise DataError(f"input {path} is listed twice" if first == path else
                            f"inputs {first} and {path} both have the output folder name {key!r}; rename one")
        seen[key] = path
    return list(seen)


def _token(job: Job) -> str:
    """The job's identity: a hash of its class and its repr (a job is a frozen dataclass of its settings, so
    two jobs with the same settings share one set-up model in a worker)."""
    kind = type(job)
    return hashlib.sha256(f"{kind.__module__}.{kind.__qualname__}:{job!r}".encode()).hexdigest()[:16]


def _clear_leftovers(out: Path) -> None:
    """Remove the temporary folders of items whose worker died, and replaced outputs."""
    for path in out.glob(".*"):
        if path.is_dir() and (PARTIAL in path.name or OLD in path.name):
            shutil.rmtree(path, ignore_errors=True)


def _here(todo: list[tuple[Path, str]], job: Job, token: str, out: Path) -> Iterator[_Outcome]:
    """Outcomes of the items run in this process one after another; the set-up job is dropped at the end."""
    try:
        for item, key in todo:
            yield _run_item(job, token, str(item), key, str(out), 1)
    finally:
        _READY.pop(token, None)


def _on_cluster(todo: list[tuple[Path, str]], job: Job, token: str, out: Path, scheduler: str | None,
                workers: int, retries: int, info: dict) -> Iterator[_Outcome]:
    """Outcomes as items finish on a new LocalCluster of `workers` processes or on the cluster at `scheduler`;
    `info` gets the scheduler address, the worker count and the retried items.

    The LocalCluster gives each worker one item at a time and reports a dead worker's item at once
    (allowed_failures=0); each such death costs the item one of `retries` resubmissions. On a remote cluster
    the scheduler's own distributed.scheduler.allowed-failures is the budget instead (`retries` is unused).
    """
    if not todo:
        return
    import dask
    from distributed import Client, KilledWorker, LocalCluster, as_completed

    with contextlib.ExitStack() as stack:
        if scheduler is None:
            with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
                cluster = stack.enter_context(LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                    scheduler_kwargs={"allowed_failures": 0, "dashboard_address": "127.0.0.1:0"}))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler))
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"scheduler {scheduler}: cannot connect ({_one_line(exc)})") from exc
        info["scheduler"] = client.scheduler.address
        info["workers"] = len(client.scheduler_info()["workers"])
        tasks: dict[str, tuple[Path, str, int]] = {}

        def submit(item: Path, key: str, attempt: int):
            future = client.submit(_run_item, job, token, str(item), key, str(out), attempt, pure=False,
                                   key=f"flexunet-{key}-{attempt}-{uuid.uuid4().hex[:8]}")
            tasks[future.key] = (item, key, attempt)
            return future

        queue = as_completed([submit(item, key, 1) for item, key in todo])
        for future in queue:
            item, key, attempt = tasks.pop(future.key)
            try:
                outcome = future.result()
            except KilledWorker as exc:
                if scheduler is None and attempt <= retries:
                    info["retried"].append(str(item))
                    queue.add(submit(item, key, attempt + 1))
                    future.release()
                    continue
                tries = attempt * (exc.allowed_failures + 1)
                outcome = _Outcome(str(item), message=f"its worker process died each of the {tries} times it ran "
                                                      "(killed, crashed or out of memory)")
            except Exception as exc:
                outcome = _Outcome(str(item), message=_one_line(exc))
            future.release()
            yield outcome


def _totals(records: Iterable[RunRecord]) -> dict:
    totals: collections.Counter = collections.Counter()
    for record in records:
        totals.update({k: v for k, v in record.summary.items() if type(v) in (int, float)})
    return dict(totals)


def run_many(items: PathLike | Iterable[PathLike], job: Job, out_root: PathLike, scheduler: str | None = None,
             workers: int = 2, retries: int = 2, progress: bool = True) -> RunSummary:
    """Run `job` over `items` (a folder's files, or a list) into out_root/<job.key(item)>/; return the summary.

    scheduler=None starts a LocalCluster of `workers` processes (one thread each) and closes it at the end;
    an address ("tcp://host:8786") uses that cluster instead; workers=0 without a scheduler runs the items
    here, one after another, with the same outputs. Items done earlier from an unchanged input are skipped.
    """
    if workers < 0 or retries < 0:
        raise ConfigError(f"run_many: expected workers >= 0 and retries >= 0, got {workers} and {retries}")
    started = time.monotonic()
    inputs, folder = _inputs(items)
    keys = _keys(job, inputs)
    token = _token(job)
    out = prepare_output_dir(out_root, "run output", protected={"input folder": folder} if folder else None,
                             keep=True)
    _clear_leftovers(out)
    earlier = {item: RunRecord.read(out / key) for item, key in zip(inputs, keys)}
    fresh = {item for item in inputs if earlier[item] is not None and earlier[item].matches(item)}
    skipped = [item for item in inputs if item in fresh]
    todo = [(item, key) for item, key in zip(inputs, keys) if item not in fresh]
    info: dict = {"scheduler": scheduler, "workers": 0, "retried": []}
    if scheduler is None and workers == 0:
        stream = _here(todo, job, token, out)
    else:
        stream = _on_cluster(todo, job, token, out, scheduler, workers, retries, info)
    outcomes: list[_Outcome] = []
    with tqdm(total=len(inputs), initial=len(skipped), desc="Items", unit="item", disable=not progress) as bar, \
            contextlib.closing(stream):
        for outcome in stream:
            outcomes.append(outcome)
            bar.update(1)
            if outcome.record is None:
                bar.set_postfix(failed=sum(o.record is None for o in outcomes))
    _clear_leftovers(out)
    order = {str(item): n for n, item in enumerate(inputs)}
    outcomes.sort(key=lambda o: order[o.item])
    done = [o for o in outcomes if o.record is not None]
    summary = RunSummary(
        items=len(inputs), done=tuple(o.item for o in done), skipped=tuple(str(p) for p in skipped),
        failed=tuple((o.item, o.message) for o in outcomes if o.record is None),
        retried=tuple(sorted(set(info["retried"]), key=order.__getitem__)),
        totals=_totals([o.record for o in done] + [earlier[p] for p in skipped]),
        seconds=round(time.monotonic() - started, 3), workers=info["workers"], scheduler=info["scheduler"],
        finished=datetime.datetime.now().isoformat(timespec="seconds"))
    atomic_write_text(out / SUMMARY_FILE, summary.to_json())
    return summary
