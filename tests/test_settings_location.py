"""Which settings file a command reads: `--settings`, then `$HELPLINE_SETTINGS`, then `./settings.toml`, then the
packaged default, so that an installed Helpline runs from any folder (scripts/check-wheel.sh proves it on the wheel)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.errors import SettingsError
from core.settings import load_settings, packaged_settings_path, settings_origin
from helpline.cli import app
from helpline.supervisor import PROCFILE, procfile_entries

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder outside the checkout, as the current directory, with no HELPLINE_SETTINGS."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HELPLINE_SETTINGS", raising=False)
    return tmp_path


def test_the_packaged_files_are_the_checkouts_own() -> None:
    # One copy of each: the package's files are links to the top-level ones the README and honcho use.
    assert packaged_settings_path().resolve() == (ROOT / "settings.toml").resolve()
    assert PROCFILE.resolve() == (ROOT / "Procfile").resolve()
    assert [name for name, _ in procfile_entries()][:3] == ["redis", "postgres", "smtp"]


def test_an_empty_folder_reads_the_packaged_default(elsewhere: Path) -> None:
    assert settings_origin() == (packaged_settings_path(), "packaged")
    assert load_settings().router.categories, "the packaged default has the default taxonomy"
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "default_settings.toml: OK (the packaged default: copy it to ./settings.toml" in result.output


def test_a_settings_file_in_the_folder_comes_before_the_packaged_one(elsewhere: Path) -> None:
    (elsewhere / "settings.toml").write_text("[web]\nport = 9001\n", encoding="utf-8")
    assert settings_origin() == (Path("settings.toml"), "./settings.toml")
    assert load_settings().web.port == 9001


def test_the_environment_comes_before_the_folder_and_the_option_before_both(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (elsewhere / "settings.toml").write_text("[web]\nport = 9001\n", encoding="utf-8")
    named = elsewhere / "named.toml"
    named.write_text("[web]\nport = 9002\n", encoding="utf-8")
    option = elsewhere / "option.toml"
    option.write_text("[web]\nport = 9003\n", encoding="utf-8")
    monkeypatch.setenv("HELPLINE_SETTINGS", str(named))
    assert settings_origin() == (named, "HELPLINE_SETTINGS")
    assert load_settings().web.port == 9002
    assert load_settings(option).web.port == 9003


def test_a_named_file_that_is_missing_is_an_error_not_a_fallback(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_SETTINGS", str(elsewhere / "typo.toml"))
    with pytest.raises(SettingsError, match="file not found"):
        load_settings()
    result = CliRunner().invoke(app, ["check", "--settings", str(elsewhere / "other-typo.toml")])
    assert result.exit_code == 2
    assert "other-typo.toml" in result.output and "file not found" in result.output
