"""flexunet.provenance: what every result records about its origin, and how it is written."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flexunet import provenance
from flexunet.provenance import Provenance, ProvenanceError, result_problems, write_result_json

RECORD = {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False, "command": "python -m bench.fields",
          "timestamp": "2026-11-30T06:14:00+00:00", "versions": {"python": "3.11.7", "keras": "3.15.1"},
          "cpu_model": "Intel(R) Xeon(R) Processor", "usable_cores": 2, "backend": "tensorflow"}


def record(**changes) -> Provenance:
    return Provenance(**{**RECORD, **changes})


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env=env).stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    git(folder, "init", "-q")
    (folder / "tracked.txt").write_text("one\n")
    git(folder, "add", "tracked.txt")
    git(folder, "commit", "-q", "-m", "first")
    return folder


def test_collect_in_a_clean_repository(repo):
    found = Provenance.collect("python -m bench.fields --seed 1", repo=repo)
    assert (found.commit, found.dirty, found.no_commit) == (git(repo, "rev-parse", "HEAD"), False, None)
    assert found.command == "python -m bench.fields --seed 1" and len(found.commit) == 40
    assert provenance.has_time_zone(found.timestamp) and found.versions["python"] == sys.version.split()[0]
    assert found.usable_cores == len(os.sched_getaffinity(0)) and found.problems() == []


@pytest.mark.parametrize("change, dirty", [
    (lambda repo: (repo / "tracked.txt").write_text("two\n"), True),       # a tracked file edited
    (lambda repo: (repo / "new.txt").write_text("new\n"), False),          # only an untracked file
])
def test_dirty_means_uncommitted_changes_to_tracked_files(repo, change, dirty):
    change(repo)
    assert Provenance.collect("x", repo=repo).dirty is dirty


def test_outside_a_repository_the_commit_is_null_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    found = Provenance.collect("x", repo=tmp_path)
    assert (found.commit, found.dirty) == (None, None)
    assert found.no_commit.startswith("git failed: fatal: not a git repository")
    assert found.problems() == [f"no commit ({found.no_commit})"]


def test_without_git_the_commit_is_null_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert provenance.git_state(tmp_path) == (None, None, "git is not installed")


def test_a_git_that_hangs_is_given_up(tmp_path, monkeypatch):
    fake = tmp_path / "git"
    fake.write_text("#!/bin/sh\nsleep 5\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(provenance, "GIT_TIMEOUT_S", 0.2)
    assert provenance.git_state(tmp_path) == (None, None, "git did not answer within 0.2 s")


@pytest.mark.parametrize("argv, expected", [
    (["/work/main/.venv/bin/python", "-m", "bench.fields", "--seed", "1"], "python -m bench.fields --seed 1"),
    (["python3", "-m", "bench.quality", "--set", "train.note=a b"], "python3 -m bench.quality --set 'train.note=a b'"),
])
def test_the_command_line_as_run(monkeypatch, argv, expected):
    monkeypatch.setattr(sys, "orig_argv", argv)
    assert provenance.command_line() == expected


def test_json_round_trip():
    for original in (record(), record(commit=None, dirty=None, no_commit="git is not installed"),
                     record(dirty=None, cpu_model=None, recovered="rebuilt", unrecorded=("dirty", "cpu_model"))):
        data = json.loads(json.dumps(original.to_json()))
        assert Provenance.from_json(data) == original


@pytest.mark.parametrize("data, message", [
    ([], "expected a JSON object, got list"),
    ({k: v for k, v in RECORD.items() if k != "commit"}, "missing key 'commit'"),
    ({**RECORD, "host": "a"}, "unknown key 'host'"),
    ({**RECORD, "versions": "3.11"}, "versions: expected an object of name: version, got '3.11'"),
])
def test_from_json_names_what_is_wrong(data, message):
    with pytest.raises(ProvenanceError, match=f"^{message}$"):
        Provenance.from_json(data)


@pytest.mark.parametrize("changes, problems", [
    ({}, []),
    ({"commit": None, "no_commit": "git is not installed"}, ["no commit (git is not installed)"]),
    ({"command": ""}, ["no command"]),
    ({"versions": {}}, ["no versions"]),
    ({"cpu_model": None}, ["no cpu_model"]),
    ({"timestamp": "2026-11-30 06:14:00"}, ["timestamp '2026-11-30 06:14:00' is not ISO 8601 with a time zone"]),
    ({"cpu_model": None, "recovered": "rebuilt", "unrecorded": ("cpu_model",)}, []),
    ({"cpu_model": None, "unrecorded": ("cpu_model",)}, ["no cpu_model", "unrecorded fields without a recovered note"]),
    ({"commit": None, "recovered": "rebuilt", "unrecorded": ("cpu_model",)}, ["no commit"]),
    ({"commit": None, "recovered": "rebuilt", "unrecorded": ("commit",)}, ["no commit"]),
])
def test_problems_by_field(changes, problems):
    assert record(**changes).problems() == problems


@pytest.mark.parametrize("result, problems", [
    ({"a": 1}, ["no provenance record"]),
    ({"provenance": {"commit": None}}, ["provenance: missing key 'dirty'; missing key 'command'; missing key "
                                        "'timestamp'; missing key 'versions'; missing key 'cpu_model'; missing "
                                        "key 'usable_cores'; missing key 'backend'"]),
    ({"provenance": RECORD}, []),
])
def test_result_problems(result, problems):
    assert result_problems(result) == problems


def test_a_result_is_written_atomically_with_its_provenance_first(tmp_path):
    path = tmp_path / "results" / "x.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"old": "x" * 1000}))
    write_result_json(path, {"benchmark": "x", "provenance": "stale", "value": 1.5}, record())
    assert json.loads(path.read_text()) == {"provenance": record().to_json(), "benchmark": "x", "value": 1.5}
    assert list(path.read_text().splitlines())[1] == ' "provenance": {'
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    from flexunet import fsutil
    from flexunet.errors import OutputError

    path = tmp_path / "x.json"
    path.write_text('{"old": 1}\n')

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsutil.os, "replace", disk_full)
    with pytest.raises(OutputError, match=f"^writing {path}: disk full$"):
        write_result_json(path, {"value": 1}, record())
    assert path.read_text() == '{"old": 1}\n' and [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_every_benchmark_result_carries_the_provenance_of_its_start(tmp_path):
    from bench.common import parser, write_result

    args = parser("a benchmark").parse_args(["--out", str(tmp_path / "b.json")])
    assert isinstance(args.provenance, Provenance) and args.provenance.timestamp
    write_result("b", args, {"size": 1}, {"ms": 2.0})
    data = json.loads((tmp_path / "b.json").read_text())
    assert list(data)[:2] == ["provenance", "benchmark"] and data["ms"] == 2.0
    assert Provenance.from_json(data["provenance"]) == args.provenance and result_problems(data) == []
    assert "tensorflow" not in data["machine"] and "cpu_model" not in data["machine"]


def test_the_demo_record_carries_the_provenance_of_its_command(tmp_path, monkeypatch):
    from flexunet.cli import demo

    summary = {"seconds": {"train": 1.0}, "total_seconds": 1.0, "held_out": {"nucleus": {"pixel_dice": 0.9}}}
    monkeypatch.setattr(demo, "prepare", lambda *args: tmp_path)
    monkeypatch.setattr(demo, "run_steps", lambda project, parts: {})
    monkeypatch.setattr(demo, "report", lambda project, seconds, parts: summary)
    out = tmp_path / "demo.json"
    argv = ["--workdir", str(demo.REPO / "demo_run"), "--nucleus-only", "--record", str(out)]
    assert demo.main(argv) == 0
    data = json.loads(out.read_text())
    assert data["provenance"]["command"] == f"bash demo.sh {' '.join(argv)}"
    assert {k: data[k] for k in ("parts", "cells", "total_seconds")} == {"parts": ["nucleus"], "cells": 56,
                                                                         "total_seconds": 1.0}
    assert result_problems(data) == []


def test_backend_is_keras_s_when_keras_is_loaded(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", argparse.Namespace(backend=argparse.Namespace(backend=lambda: "jax")))
    assert provenance.backend() == "jax"
    monkeypatch.delitem(sys.modules, "keras")
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert provenance.backend() == "torch"
