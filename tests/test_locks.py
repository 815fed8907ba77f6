"""Folder locks: a second training into held folders refuses; a stale lock is reported and taken over."""

import json
import os
import socket
import subprocess
import sys

import pytest

from flexunet import locks
from flexunet.errors import OutputError


def write_lock(folder, pid, host=None, started=None):
    path = locks.lock_path(folder)
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": started,
                                "since": "2026-01-02 03:04:05", "command": "TensorflowUNetTrainer.py"}))
    return path


@pytest.fixture
def sleeper():
    """A live process that is not this one."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_lock_lives_beside_the_folder(tmp_path):
    assert locks.lock_path(tmp_path / "models") == tmp_path / ".models.flexunet-lock"


def test_a_held_folder_refuses_a_second_holder_with_one_line_naming_both(tmp_path, sleeper):
    write_lock(tmp_path / "models", sleeper.pid)
    with pytest.raises(OutputError) as info:
        locks.acquire(tmp_path / "models", "[train] model_dir in ./x.config")
    message = str(info.value)
    assert message.startswith(f"[train] model_dir in ./x.config: {tmp_path / 'models'} is in use by another "
                              f"training (pid {sleeper.pid} on {socket.gethostname()} since 2026-01-02 03:04:05")
    assert f"if no such run exists, delete {tmp_path / '.models.flexunet-lock'}" in message
    assert "\n" not in message


def test_a_lock_of_another_host_is_never_taken_over(tmp_path):
    write_lock(tmp_path / "models", dead_pid(), host="another-machine")
    with pytest.raises(OutputError, match="in use by another training .* on another-machine"):
        locks.acquire(tmp_path / "models", "what")


@pytest.mark.parametrize("reuse", [False, True])
def test_a_stale_lock_is_reported_and_taken_over(tmp_path, capsys, sleeper, reuse):
    """Gone: the pid no longer runs; reused: it runs, but started at another time than the holder."""
    pid = sleeper.pid if reuse else dead_pid()
    write_lock(tmp_path / "models", pid, started="1" if reuse else None)
    if reuse and locks._start_time(pid) is None:
        pytest.skip("no /proc start times on this system")
    path = locks.acquire(tmp_path / "models", "what")
    assert f"was locked by a run that is gone (pid {pid} on" in capsys.readouterr().out
    assert json.loads(path.read_text())["pid"] == os.getpid()


def test_holding_releases_on_exceptions_and_ctrl_c(tmp_path):
    for error in (ValueError, KeyboardInterrupt):
        with pytest.raises(error), locks.holding({"a": tmp_path / "models", "b": tmp_path / "eval"}):
            assert locks.holder_of(tmp_path / "models")["pid"] == os.getpid()
            raise error()
        assert not locks.lock_path(tmp_path / "models").exists()
        assert not locks.lock_path(tmp_path / "eval").exists()


def test_the_same_folder_named_twice_is_held_once(tmp_path):
    with locks.holding({"model_dir": tmp_path / "out", "eval_dir": tmp_path / "out"}):
        assert locks.lock_path(tmp_path / "out").exists()
    assert not locks.lock_path(tmp_path / "out").exists()


def test_release_leaves_a_lock_another_process_took_over(tmp_path, sleeper):
    path = write_lock(tmp_path / "models", sleeper.pid)
    locks.release(path)
    assert path.exists()


def test_a_failed_second_acquire_keeps_the_first_holders_lock(tmp_path):
    with locks.holding({"a": tmp_path / "models"}):
        with pytest.raises(OutputError, match="already held by this process"):
            locks.acquire(tmp_path / "models", "a")
        assert locks.holder_of(tmp_path / "models")["pid"] == os.getpid()


def test_a_note_while_a_training_holds_the_model_folder(tmp_path, capsys, sleeper):
    locks.note_if_training(tmp_path / "models")
    assert capsys.readouterr().out == ""
    write_lock(tmp_path / "models", sleeper.pid)
    locks.note_if_training(tmp_path / "models")
    assert "is being trained (pid" in capsys.readouterr().out
