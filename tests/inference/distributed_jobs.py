"""Picklable fake jobs for test_distributed.py (numpy and PIL, no TensorFlow). Spawned LocalCluster workers
import this module by name: they start with the test process's sys.path, which holds tests/."""

import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from flexunet.errors import DataError
from flexunet.fsutil import csv_text


def markers(log_dir: str | Path, kind: str, stem: str = "") -> list[int]:
    """The pids written by the job's markers of `kind` ("setup", or "start" for the item `stem`)."""
    pattern = f"{kind}-{stem}-*" if stem else f"{kind}-*"
    return [int(p.read_text()) for p in sorted(Path(log_dir).glob(pattern))]


def _mark(log_dir: str, name: str) -> None:
    """A marker file holding this process's pid, written whole (a test may read it at once)."""
    tmp = Path(log_dir, f".{name}-{uuid.uuid4().hex}")
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, tmp.with_name(tmp.name[1:]))


@dataclass(frozen=True)
class ThresholdJob:
    """Dark pixels of a PNG: mask.png and rows.csv (dark pixels per row); markers of each setup and item start.

    `fail_on` stem raises `failure` ("data": DataError, "value": ValueError); the first attempt at the
    `hold_on` stem sleeps `hold_seconds` (a test kills its worker meanwhile); every attempt at the
    `crash_on` stem kills its own worker process after a second (once the client has collected the
    items that worker finished before: their lost results would be computed again).
    """

    log_dir: str
    sleep: float = 0.05
    fail_on: str = ""
    failure: str = "data"
    hold_on: str = ""
    hold_seconds: float = 30.0
    crash_on: str = ""

    def key(self, item: Path) -> str:
        return item.stem

    def setup(self) -> None:
        _mark(self.log_dir, "setup")

    def run(self, item: Path, out_dir: Path) -> dict:
        _mark(self.log_dir, f"start-{item.stem}")
        if item.stem == self.fail_on:
            if self.failure == "data":
                raise DataError(f"{item.name}: unreadable slide")
            raise ValueError(f"bad pixel\nin {item.name}")
        (out_dir / "partial.txt").write_text("written before the hold")
        if item.stem == self.crash_on:
            time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGKILL)
        if item.stem == self.hold_on and len(markers(self.log_dir, "start", item.stem)) == 1:
            time.sleep(self.hold_seconds)
        gray = np.asarray(Image.open(item).convert("L"))
        mask = np.where(gray < 128, 255, 0).astype(np.uint8)
        Image.fromarray(mask).save(out_dir / "mask.png")
        rows = [{"row": r, "dark": int(n)} for r, n in enumerate((mask > 0).sum(axis=1))]
        (out_dir / "rows.csv").write_text(csv_text(rows, ["row", "dark"]))
        time.sleep(self.sleep)
        return {"dark_pixels": np.int64((mask > 0).sum()), "cells": 1, "source": item.name}
