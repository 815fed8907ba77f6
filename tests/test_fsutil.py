"""Safe outputs: atomic writes, disk-full handling, owned folders, backups, protected folders."""

import errno
import os
import re
from pathlib import Path

import pytest

from flexunet import fsutil
from flexunet.errors import OutputError
from flexunet.fsutil import (
    OWNER_MARK,
    atomic_save,
    atomic_write_bytes,
    atomic_write_text,
    backup_folder,
    prepare_output_dir,
)


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_creates_parents_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "a" / "b" / "out.csv"
    atomic_write_text(target, "x,y\n1,2\n")
    assert target.read_text() == "x,y\n1,2\n"
    assert listing(target.parent) == ["out.csv"]


def test_atomic_write_replaces_an_existing_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old contents that are longer")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert listing(tmp_path) == ["out.bin"]


class _FullDisk:
    """A file object whose write fails as on a full disk."""

    def __init__(self, fd):
        self.fd = fd

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
        return False

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self):
        pass

    def fileno(self):
        return self.fd


@pytest.mark.parametrize("err, reason", [
    (errno.ENOSPC, "disk full"),
    (errno.EACCES, "permission denied"),
    (errno.EROFS, "permission denied"),
])
def test_write_failure_is_an_output_error_and_the_old_file_survives(tmp_path, monkeypatch, err, reason):
    target = tmp_path / "train_losses.csv"
    target.write_text("epoch, loss, val_loss\n0, 0.5, 0.6\n")

    class Failing(_FullDisk):
        def write(self, data):
            raise OSError(err, os.strerror(err))

    monkeypatch.setattr(fsutil.os, "fdopen", lambda fd, mode: Failing(fd))
    with pytest.raises(OutputError) as info:
        atomic_write_text(target, "epoch, loss, val_loss\n")
    assert str(info.value) == f"writing {target}: {reason}"
    assert target.read_text() == "epoch, loss, val_loss\n0, 0.5, 0.6\n"
    assert listing(tmp_path) == ["train_losses.csv"]


def test_disk_full_for_a_new_file_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(fsutil.os, "fdopen", lambda fd, mode: _FullDisk(fd))
    with pytest.raises(OutputError, match=r"^writing .*new\.png: disk full$"):
        atomic_write_bytes(tmp_path / "new.png", b"\x89PNG")
    assert listing(tmp_path) == []


def test_atomic_save_disk_full(tmp_path):
    target = tmp_path / "best_model.keras"
    target.write_bytes(b"previous model")

    def save(path):
        with open(path, "wb") as handle:
            handle.write(b"half a mod")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError) as info:
        atomic_save(target, save)
    assert str(info.value) == f"writing {target}: disk full"
    assert target.read_bytes() == b"previous model"
    assert listing(tmp_path) == ["best_model.keras"]


def test_atomic_save_keeps_the_suffix_and_replaces(tmp_path):
    seen = []

    def save(path):
        seen.append(path)
        with open(path, "wb") as handle:
            handle.write(b"model")

    target = tmp_path / "models" / "best_model.keras"
    atomic_save(target, save)
    assert seen[0].endswith(".keras") and seen[0] != str(target)
    assert target.read_bytes() == b"model"
    assert listing(target.parent) == ["best_model.keras"]


def test_atomic_save_other_errors_propagate_and_clean_up(tmp_path):
    def save(path):
        open(path, "wb").close()
        raise ValueError("cannot serialize")

    with pytest.raises(ValueError, match="cannot serialize"):
        atomic_save(tmp_path / "m.keras", save)
    assert listing(tmp_path) == []


# ----------------------------------------------------------------------------- output folders


def test_new_folder_is_created_and_marked(tmp_path):
    out = prepare_output_dir(tmp_path / "a" / "out", "[infer] output_dir in c.config")
    assert out == tmp_path / "a" / "out"
    assert listing(out) == [OWNER_MARK]


def test_empty_existing_folder_is_used(tmp_path):
    (tmp_path / "out").mkdir()
    prepare_output_dir(tmp_path / "out", "W")
    assert listing(tmp_path / "out") == [OWNER_MARK]


def test_a_users_non_empty_folder_is_refused_and_untouched(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    with pytest.raises(OutputError) as info:
        prepare_output_dir(out, "[infer] output_dir in c.config", backup=True)
    assert str(info.value) == (f"[infer] output_dir in c.config: {out} is not empty and was not made by "
                               "this toolkit; choose another folder or move its files away")
    assert listing(out) == ["thesis.docx"]
    assert (out / "thesis.docx").read_text() == "precious"


def test_owned_folder_is_replaced(tmp_path):
    out = prepare_output_dir(tmp_path / "out", "W")
    (out / "old_mask.png").write_bytes(b"x")
    again = prepare_output_dir(tmp_path / "out", "W")
    assert listing(again) == [OWNER_MARK]
    assert listing(tmp_path) == ["out"]


def test_owned_folder_is_kept_with_keep(tmp_path):
    out = prepare_output_dir(tmp_path / "out", "W")
    (out / "last_model.keras").write_bytes(b"x")
    prepare_output_dir(tmp_path / "out", "W", keep=True, backup=True)
    assert listing(out) == [OWNER_MARK, "last_model.keras"]


def test_owned_folder_is_moved_to_a_timestamped_backup(tmp_path, capsys):
    out = prepare_output_dir(tmp_path / "models", "W")
    (out / "best_model.keras").write_bytes(b"first run")
    prepare_output_dir(tmp_path / "models", "W", backup=True)
    assert listing(tmp_path / "models") == [OWNER_MARK]
    backups = [p for p in tmp_path.iterdir() if p.name != "models"]
    assert len(backups) == 1
    assert re.fullmatch(r"models_\d{4}-\d\d-\d\d_\d\d_\d\d_\d\d_bak", backups[0].name)
    assert (backups[0] / "best_model.keras").read_bytes() == b"first run"
    assert f"Moved the earlier {tmp_path / 'models'} to {backups[0]}" in capsys.readouterr().out


def test_backups_in_the_same_second_get_fresh_names(tmp_path, monkeypatch):
    monkeypatch.setattr(fsutil, "timestamp", lambda: "2024-01-02_03_04_05")
    names = []
    for i in range(3):
        (tmp_path / "eval").mkdir()
        (tmp_path / "eval" / "f.csv").write_text(str(i))
        names.append(backup_folder(tmp_path / "eval").name)
    assert names == ["eval_2024-01-02_03_04_05_bak", "eval_2024-01-02_03_04_05_1_bak",
                     "eval_2024-01-02_03_04_05_2_bak"]
    assert (tmp_path / names[2] / "f.csv").read_text() == "2"


def test_a_file_in_the_way_is_refused(tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(OutputError) as info:
        prepare_output_dir(tmp_path / "out", "W")
    assert str(info.value) == f"W: expected a folder, found a file at {tmp_path / 'out'}"


@pytest.mark.parametrize("case", ["is the config folder", "holds the input folder", "is the input folder",
                                  "relative path to the config folder"])
def test_protected_folders_are_refused(tmp_path, monkeypatch, case):
    project = tmp_path / "project"
    images = project / "data" / "images"
    images.mkdir(parents=True)
    (images / "a.jpg").write_bytes(b"x")
    protected = {"config folder": project, "input folder": images}
    folder, label = {
        "is the config folder": (project, "config folder"),
        "holds the input folder": (project / "data", "input folder"),
        "is the input folder": (images, "input folder"),
        "relative path to the config folder": ("./project/data/..", "config folder"),
    }[case]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError) as info:
        prepare_output_dir(folder, "[infer] output_dir in c.config", protected)
    assert str(info.value) == (f"[infer] output_dir in c.config: expected a folder of its own, got "
                               f"{Path(folder)}, which is or holds the {label}")
    assert (images / "a.jpg").read_bytes() == b"x"
    assert not (project / OWNER_MARK).exists()


def test_folder_inside_a_protected_folder_is_allowed(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    out = prepare_output_dir(project / "test_output", "W", {"config folder": project, "none": None})
    assert listing(out) == [OWNER_MARK]


def test_atomic_copy_survives_the_source_being_replaced(tmp_path):
    from flexunet.fsutil import atomic_copy, atomic_write_bytes

    atomic_write_bytes(tmp_path / "last.keras", b"epoch 3")
    atomic_copy(tmp_path / "last.keras", tmp_path / "best.keras")
    atomic_write_bytes(tmp_path / "last.keras", b"epoch 4")
    assert (tmp_path / "best.keras").read_bytes() == b"epoch 3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.keras", "last.keras"]
