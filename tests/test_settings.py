"""settings.toml loading, environment overrides, secrets from the environment only, and `helpline check`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.errors import SettingsError
from core.settings import env_name, load_settings
from helpline.cli import app

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_settings_file_is_valid() -> None:
    result = CliRunner().invoke(app, ["check", "--settings", str(ROOT / "settings.toml")])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_environment_overrides_a_nested_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[email.inbound]\nport = 2525\n")
    monkeypatch.setenv("HELPLINE_EMAIL__INBOUND__PORT", "3025")
    monkeypatch.setenv("HELPLINE_EMAIL__IMAP__PASSWORD", "s3cret")
    settings = load_settings(path)
    assert settings.email.inbound.port == 3025
    assert settings.email.imap.password is not None
    assert settings.email.imap.password.get_secret_value() == "s3cret"


def test_helpline_settings_names_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_SETTINGS", str(write(tmp_path, "[web]\nport = 9999\n")))
    assert load_settings().web.port == 9999


def test_secrets_in_the_file_are_refused_with_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[email.imap]\nhost = "imap.example.com"\npassword = "hunter2"\n')
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    (problem,) = error.value.problems
    assert problem.key == "email.imap.password" and problem.line == 3
    assert env_name("email.imap.password") in problem.message


def test_every_problem_is_reported_with_key_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[email.inbound]\nport = "many"\n\n[web]\nprot = 80\n')
    result = CliRunner().invoke(app, ["check", "--settings", str(path)])
    assert result.exit_code == 2
    assert f"{path}:2: email.inbound.port:" in result.output
    assert f"{path}:5: web.prot: unknown key" in result.output


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[web]\nport = 80\nhost = \n")
    result = CliRunner().invoke(app, ["check", "--settings", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3: -: not valid TOML" in result.output


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", "--settings", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "file not found" in result.output


def test_helpline_refuses_to_start_on_an_invalid_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[workers]\ncount = 0\n")
    result = CliRunner().invoke(app, ["serve", "worker", "--settings", str(path)])
    assert result.exit_code == 2
    assert "workers.count" in result.output


def test_a_bad_environment_value_is_blamed_on_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[web]\nport = 8080\n")
    monkeypatch.setenv("HELPLINE_WEB__PORT", "abc")
    result = CliRunner().invoke(app, ["check", "--settings", str(path)])
    assert result.exit_code == 2
    assert "environment HELPLINE_WEB__PORT: web.port:" in result.output


def test_redis_url_variable_is_honoured_below_the_helpline_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[redis]\nurl = "redis://file:6379/0"\n')
    monkeypatch.setenv("REDIS_URL", "redis://standard:6379/0")
    assert load_settings(path).redis.url == "redis://standard:6379/0"
    monkeypatch.setenv("HELPLINE_REDIS__URL", "redis://ours:6379/0")
    assert load_settings(path).redis.url == "redis://ours:6379/0"


def test_names_that_other_sections_define_are_checked(tmp_path: Path) -> None:
    shipped = (ROOT / "settings.toml").read_text(encoding="utf-8")
    typos = shipped.replace("[hours.general]", "[hours.genral]", 1).replace(
        'escalation_queue = "escalations"', 'escalation_queue = "escalatoins"', 1
    )
    typos += "\n[sla.categories.securty]\nfirst_response_minutes = { urgent = 5 }\n"
    result = CliRunner().invoke(app, ["check", "--settings", str(write(tmp_path, typos))])
    assert result.exit_code == 2
    for key in ("hours.genral", "scheduler.escalation_queue", "sla.categories.securty"):
        assert f": {key}:" in result.output, result.output


def test_durations_must_be_positive(tmp_path: Path) -> None:
    shipped = (ROOT / "settings.toml").read_text(encoding="utf-8")
    bad = shipped.replace("retry_backoff_seconds = [10, 60, 300, 900]", "retry_backoff_seconds = [-5]", 1)
    bad += "\n[sla.categories.refund]\nfirst_response_minutes = { high = -30 }\n"
    result = CliRunner().invoke(app, ["check", "--settings", str(write(tmp_path, bad))])
    assert result.exit_code == 2
    assert ": replies.retry_backoff_seconds.0:" in result.output
    assert ": sla.categories.refund.first_response_minutes.high:" in result.output
