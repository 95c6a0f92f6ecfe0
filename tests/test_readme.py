"""The README's promises that code can check: the configuration reference and the two commands."""

from __future__ import annotations

from pathlib import Path

from core.settings_reference import README, markdown, readme_block

ROOT = Path(__file__).resolve().parent.parent


def test_configuration_reference_matches_the_settings_models() -> None:
    assert readme_block(README.read_text(encoding="utf-8")) == markdown(), (
        "README's configuration table is stale: run `python -m core.settings_reference --write`"
    )


def test_every_setting_has_a_description() -> None:
    undocumented = [row.split(" | ")[0] for row in markdown().splitlines()[2:] if row.endswith("|  |")]
    assert undocumented == []


def test_ci_runs_the_readme_test_command() -> None:
    readme = README.read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
