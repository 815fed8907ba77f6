"""The real-data switch: without FLEXUNET_REQUIRE_DATA a missing ../shared folder skips its tests with the
reason; with FLEXUNET_REQUIRE_DATA=1 (set by .ci/run) it fails them with the same reason."""

from pathlib import Path

import pytest

from conftest import REPO, REQUIRE_DATA, require_data, shared_data_folder


def real_data_tree(root: Path) -> Path:
    for folder in ("Pap-Smear-master/severe_dysplastic/images", "Pap-Smear-master/severe_dysplastic/masks",
                   "mini_test"):
        (root / folder).mkdir(parents=True)
    return root


def test_without_the_variable_a_missing_folder_skips_with_its_path(tmp_path, monkeypatch):
    monkeypatch.delenv(REQUIRE_DATA, raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        shared_data_folder(tmp_path / "nowhere")
    expected = tmp_path / "nowhere" / "Pap-Smear-master" / "severe_dysplastic" / "images"
    assert str(info.value) == (f"real data (the shared Pap-Smear data is not part of the repository) not "
                               f"available: {expected} not found (set FLEXUNET_REQUIRE_DATA=1 to make this a failure)")


@pytest.mark.parametrize("value", ["0", "", "yes"])
def test_only_the_value_1_turns_the_skip_into_a_failure(tmp_path, monkeypatch, value):
    monkeypatch.setenv(REQUIRE_DATA, value)
    with pytest.raises(pytest.skip.Exception):
        require_data("the seed config", tmp_path / "seed.config")


def test_with_the_variable_a_missing_folder_fails_with_its_path(tmp_path, monkeypatch):
    monkeypatch.setenv(REQUIRE_DATA, "1")
    with pytest.raises(pytest.fail.Exception) as info:
        shared_data_folder(tmp_path / "nowhere")
    expected = tmp_path / "nowhere" / "Pap-Smear-master" / "severe_dysplastic" / "images"
    assert str(info.value) == (f"real data (the shared Pap-Smear data is not part of the repository) not "
                               f"available: {expected} not found; FLEXUNET_REQUIRE_DATA=1 requires it "
                               "(unset the variable to skip instead)")


@pytest.mark.parametrize("missing", ["Pap-Smear-master/severe_dysplastic/masks", "mini_test"])
def test_each_folder_the_real_data_tests_read_is_required(tmp_path, monkeypatch, missing):
    monkeypatch.setenv(REQUIRE_DATA, "1")
    root = real_data_tree(tmp_path / "data")
    (root / missing).rmdir()
    with pytest.raises(pytest.fail.Exception, match=f"{root / missing} not found"):
        shared_data_folder(root)


@pytest.mark.parametrize("value", [None, "1"])
def test_present_data_is_returned_either_way(tmp_path, monkeypatch, value):
    if value is None:
        monkeypatch.delenv(REQUIRE_DATA, raising=False)
    else:
        monkeypatch.setenv(REQUIRE_DATA, value)
    root = real_data_tree(tmp_path / "data")
    assert shared_data_folder(root) == root
    assert require_data("the seed config", root / "mini_test") is None


def test_ci_sets_the_variable_before_running_the_tests():
    lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert "export FLEXUNET_REQUIRE_DATA=1" in lines
    assert lines.index("export FLEXUNET_REQUIRE_DATA=1") < next(
        i for i, line in enumerate(lines) if line.startswith("bash run_tests.sh"))
