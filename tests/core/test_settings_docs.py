"""docs/configuration.md is generated from the settings tree; these fail when the two drift apart."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from lumen.core.cli import main
from lumen.core.settings import Settings, load_settings, unknown_variables
from lumen.core.settings_docs import render, settings_rows

ROOT = Path(__file__).resolve().parents[2]


def _leaf_fields(cls: type, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, field_type in zip(cls.__struct_fields__, msgspec.structs.fields(cls), strict=True):
        del name
        info = msgspec.inspect.type_info(field_type.type)
        if isinstance(info, msgspec.inspect.StructType):
            out |= _leaf_fields(info.cls, f"{prefix}{field_type.name}.")
        else:
            out.add(f"{prefix}{field_type.name}")
    return out


def test_the_committed_reference_matches_the_settings_tree() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == render(), "docs/configuration.md is stale: run `lumen settings docs --write`"


def test_every_setting_has_a_row() -> None:
    assert {row.path for row in settings_rows()} == _leaf_fields(Settings)


def test_every_setting_is_described() -> None:
    undocumented = [row.variable for row in settings_rows() if not row.description]
    assert undocumented == [], "add a comment above these fields in core/settings.py"


@pytest.mark.parametrize("row", settings_rows(), ids=lambda row: row.variable)
def test_every_documented_variable_is_one_lumen_reads(row: object) -> None:
    variable = row.variable  # type: ignore[attr-defined]
    alias = row.alias  # type: ignore[attr-defined]
    for name in filter(None, (variable, alias)):
        assert unknown_variables({name: "x"}) == []


def test_a_documented_variable_sets_the_documented_field() -> None:
    settings = load_settings({"LUMEN_JOBS__SHUTDOWN_GRACE_SECONDS": "7", "LUMEN_PORT": "9001"})
    assert settings.jobs.shutdown_grace_seconds == 7
    assert settings.server.port == 9001


def test_the_cli_check_fails_on_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "configuration.md").write_text("# Configuration\n\nold\n")
    result = CliRunner().invoke(main, ["settings", "docs", "--check"])
    assert result.exit_code == 1
    assert CliRunner().invoke(main, ["settings", "docs", "--write"]).exit_code == 0
    assert CliRunner().invoke(main, ["settings", "docs", "--check"]).exit_code == 0
    assert (tmp_path / "docs" / "configuration.md").read_text() == render()
