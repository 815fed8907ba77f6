"""The distributed runner: LocalCluster workers match the in-process run, set up once per worker, survive a
killed worker, restart from done records, record failures in one line, refuse clashing output names."""

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flexunet.errors import DataError
from flexunet.fsutil import OWNER_MARK
from flexunet.inference.distributed import SUMMARY_FILE, RunRecord, RunSummary, run_many

from .distributed_jobs import ThresholdJob, markers

STEMS = [f"img{i}" for i in range(6)]


def make_images(folder: Path, stems=STEMS) -> Path:
    """Small gray PNGs, each with a dark disc of its own size and place."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:32, 0:32]
    for stem in stems:
        cy, cx = rng.integers(8, 24, 2)
        image = rng.integers(170, 230, (32, 32)).astype(np.uint8)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 <= rng.integers(3, 8) ** 2] = 40
        Image.fromarray(image).save(folder / f"{stem}.png")
    return folder.resolve()


def outputs(out: Path) -> dict[str, dict[str, bytes]]:
    """{key: {file: bytes}} of every output folder, without the done records (they name pids and times)."""
    return {d.name: {f.name: f.read_bytes() for f in sorted(d.iterdir()) if f.name != RunRecord.FILE}
            for d in sorted(out.iterdir()) if d.is_dir()}


def assert_clean(out: Path, keys) -> None:
    """Exactly one output folder with one done record per key, and no temporary folder left over."""
    assert sorted(p.name for p in out.iterdir()) == sorted([OWNER_MARK, SUMMARY_FILE, *keys])
    for key in keys:
        assert RunRecord.read(out / key) is not None


@pytest.fixture(scope="module")
def cluster():
    """One LocalCluster of 2 worker processes shared by the tests that pass its address."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as local:
        yield local.scheduler_address


def test_local_cluster_matches_the_in_process_run_and_sets_up_once_per_worker(tmp_path):
    folder = make_images(tmp_path / "in")
    logs = [tmp_path / "log0", tmp_path / "log2"]
    for log in logs:
        log.mkdir()
    serial = run_many(folder, ThresholdJob(str(logs[0])), tmp_path / "serial", workers=0, progress=False)
    parallel = run_many(folder, ThresholdJob(str(logs[1])), tmp_path / "parallel", workers=2, progress=False)

    expected = outputs(tmp_path / "serial")
    assert sorted(expected) == STEMS and all(sorted(f) == ["mask.png", "partial.txt", "rows.csv"]
                                             for f in expected.values())
    assert outputs(tmp_path / "parallel") == expected
    assert serial.done == parallel.done == tuple(str(folder / f"{s}.png") for s in STEMS)
    assert serial.totals == parallel.totals and parallel.totals["cells"] == 6
    assert parallel.totals["dark_pixels"] == sum((np.asarray(Image.open(folder / f"{s}.png")) < 128).sum()
                                                 for s in STEMS)
    assert (serial.workers, serial.scheduler) == (0, None)
    assert parallel.workers == 2 and parallel.scheduler.startswith("tcp://")
    assert RunSummary.from_json((tmp_path / "parallel" / SUMMARY_FILE).read_text()) == parallel

    assert markers(logs[0], "setup") == [os.getpid()]
    setups = markers(logs[1], "setup")
    assert 1 <= len(setups) <= 2 and len(set(setups)) == len(setups) and os.getpid() not in setups
    assert {RunRecord.read(tmp_path / "parallel" / s).pid for s in STEMS} == set(setups)
    assert_clean(tmp_path / "parallel", STEMS)


def test_a_killed_worker_costs_its_item_a_retry_not_the_run(tmp_path):
    folder = make_images(tmp_path / "in")
    log = tmp_path / "log"
    log.mkdir()
    killed = []

    def kill_the_held_item_worker():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            pids = markers(log, "start", "img2")
            if pids and pids[0] != os.getpid():
                time.sleep(1.0)  # let the client collect the items this worker finished before
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_held_item_worker, daemon=True)
    killer.start()
    job = ThresholdJob(str(log), hold_on="img2", crash_on="img5")
    summary = run_many(folder, job, tmp_path / "out", workers=2, retries=1, progress=False)
    killer.join()

    assert killed, "the held item never started"
    kept = [s for s in STEMS if s != "img5"]
    assert summary.done == tuple(str(folder / f"{s}.png") for s in kept)
    died = "its worker process died each of the 2 times it ran (killed, crashed or out of memory)"
    assert summary.failed == ((str(folder / "img5.png"), died),)
    assert summary.retried == (str(folder / "img2.png"), str(folder / "img5.png"))
    starts = markers(log, "start", "img2")
    assert len(starts) == 2 and killed[0] in starts
    record = RunRecord.read(tmp_path / "out" / "img2")
    assert record.attempt == 2 and record.pid != killed[0]
    assert len(markers(log, "start", "img5")) == 2
    assert all(len(markers(log, "start", s)) == 1 for s in STEMS if s not in ("img2", "img5"))
    assert_clean(tmp_path / "out", kept)


def test_a_restart_skips_done_items_and_redoes_a_touched_one(tmp_path, cluster):
    folder = make_images(tmp_path / "in")
    log = tmp_path / "log"
    log.mkdir()
    job, out = ThresholdJob(str(log)), tmp_path / "out"
    first = run_many(folder, job, out, scheduler=cluster, progress=False)
    assert len(first.done) == 6 and first.scheduler == cluster and first.workers == 2

    again = run_many(folder, job, out, scheduler=cluster, progress=False)
    assert again.done == () and again.skipped == first.done and again.totals == first.totals
    assert len(markers(log, "start")) == 6

    touched = folder / "img4.png"
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    third = run_many(folder, job, out, scheduler=cluster, progress=False)
    assert third.done == (str(touched),) and len(third.skipped) == 5 and third.totals == first.totals
    assert len(markers(log, "start", "img4")) == 2 and len(markers(log, "start")) == 7
    assert RunRecord.read(out / "img4").mtime_ns == touched.stat().st_mtime_ns
    assert_clean(out, STEMS)


def test_a_failing_item_is_recorded_in_one_line_and_the_others_are_done(tmp_path, cluster):
    folder = make_images(tmp_path / "in")
    log = tmp_path / "log"
    log.mkdir()
    job, out = ThresholdJob(str(log), fail_on="img3"), tmp_path / "out"
    summary = run_many(folder, job, out, scheduler=cluster, progress=False)
    assert summary.failed == ((str(folder / "img3.png"), "img3.png: unreadable slide"),)
    assert len(summary.done) == 5 and summary.totals["cells"] == 5
    assert RunSummary.from_json((out / SUMMARY_FILE).read_text()) == summary
    assert_clean(out, [s for s in STEMS if s != "img3"])

    again = run_many(folder, job, out, scheduler=cluster, progress=False)
    assert len(again.skipped) == 5 and again.failed == summary.failed


def test_other_exceptions_give_their_type_in_one_line(tmp_path, capsys):
    folder = make_images(tmp_path / "in")
    log = tmp_path / "log"
    log.mkdir()
    summary = run_many(folder, ThresholdJob(str(log), fail_on="img1", failure="value"), tmp_path / "out",
                       workers=0, progress=True)
    assert summary.failed == ((str(folder / "img1.png"), "ValueError: bad pixel in img1.png"),)
    assert len(summary.done) == 5
    assert "6/6" in capsys.readouterr().err


def test_clashing_output_names_are_refused_naming_both_inputs(tmp_path):
    first = make_images(tmp_path / "a", ["img0"]) / "img0.png"
    second = make_images(tmp_path / "b", ["img0"]) / "img0.png"
    log = tmp_path / "log"
    log.mkdir()
    with pytest.raises(DataError) as error:
        run_many([first, second], ThresholdJob(str(log)), tmp_path / "out", workers=0, progress=False)
    message = str(error.value)
    assert "\n" not in message and str(first) in message and str(second) in message
    assert not (tmp_path / "out").exists() and markers(log, "start") == []
