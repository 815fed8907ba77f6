"""docs/config.md must match the config schema it is generated from."""

import dataclasses
from pathlib import Path

from flexunet.config.docs import REGENERATE, config_markdown, format_default, main
from flexunet.config.sections import SECTIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def test_docs_config_md_is_up_to_date():
    assert DOC.exists(), f"{DOC} is missing; generate it with: {REGENERATE}"
    assert DOC.read_text(encoding="utf-8") == config_markdown(), (
        f"{DOC} is out of date with flexunet/config/sections.py; regenerate it with: {REGENERATE}"
    )


def test_every_section_and_key_is_documented():
    text = config_markdown()
    for name, cls in SECTIONS.items():
        assert f"## [{name}]" in text
        for f in dataclasses.fields(cls):
            kind = f.metadata["spec"].describe().replace("<", "&lt;")
            assert f"| `{f.name}` | {kind}" in text, f"[{name}] {f.name} is not documented"


def test_defaults_are_written_as_in_an_ini_file():
    fields = {f.name: f for f in dataclasses.fields(SECTIONS["model"])}
    spec = {name: f.metadata["spec"] for name, f in fields.items()}
    assert format_default(("dice_coef", "iou_coef"), spec["metrics"]) == '["dice_coef", "iou_coef"]'
    assert format_default((3, 3), spec["base_kernels"]) == "(3,3)"
    assert format_default(None, spec["clipvalue"]) == "None"
    model_dir = SECTIONS["train"].__dataclass_fields__["model_dir"].metadata["spec"]
    assert format_default("./models", model_dir) == "./models"


def test_main_writes_and_checks(tmp_path, capsys):
    out = tmp_path / "config.md"
    assert main([str(out), "--check"]) == 1
    assert REGENERATE in capsys.readouterr().err
    assert main([str(out)]) == 0
    assert main([str(out), "--check"]) == 0
    assert out.read_text(encoding="utf-8") == config_markdown()
