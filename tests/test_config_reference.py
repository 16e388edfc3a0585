"""The configuration reference page is generated from the schema and kept up to date."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from typer.testing import CliRunner

from vocalmind.config import ExperimentConfig, config_reference

PAGE = Path(__file__).resolve().parents[1] / "docs" / "config-reference.md"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    from vocalmind.config import _section_models

    out = []
    for name, info in model.model_fields.items():
        sub = _section_models(info.annotation)
        out += [f"{prefix}{name}"] + (_keys(sub, f"{prefix}{name}.") if sub else [])
    return out


def test_committed_page_is_up_to_date() -> None:
    assert PAGE.read_text(encoding="utf-8") == config_reference(), (
        "docs/config-reference.md is stale: run "
        "`vocalmind config reference -o docs/config-reference.md`")


def test_page_names_every_key_protocol_and_reader_option() -> None:
    text = config_reference()
    for key in _keys(ExperimentConfig):
        assert f"| `{key}` |" in text, key
    for name in ("loso", "group_kfold", "fold_file", "stratified_kfold"):
        assert f"| `{name}` |" in text
    assert "| | `variant` | `'out'` |" in text  # EATD's reader option, with its meaning
    assert "| | `n_splits` | `5` | number of folds" in text
    assert ":class:" not in text and "``" not in text  # no Sphinx markup


def test_cli_prints_and_writes_the_page(tmp_path: Path) -> None:
    from vocalmind.cli import app

    res = CliRunner().invoke(app, ["config", "reference"])
    assert res.exit_code == 0 and res.stdout == config_reference()
    out = tmp_path / "ref.md"
    res = CliRunner().invoke(app, ["config", "reference", "-o", str(out)])
    assert res.exit_code == 0 and out.read_text() == config_reference()
