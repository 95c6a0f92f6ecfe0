"""The record's schema: migrations that match the models, shipped in the package, and the schema check."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from core.settings import load_settings
from record.embedded import embedded_url
from record.engine import database_url, engine_for
from record.migrate import SchemaBehind, check_current, current_revision, head_revision, migrate
from record.models import Base
from tests.support.postgres import PostgresCluster


def test_migrations_build_exactly_the_models(record_url: str) -> None:
    engine = engine_for(record_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []
        check_current(engine)  # the template was migrated to head
    finally:
        engine.dispose()


def test_an_empty_database_is_behind_until_migrated(postgres_cluster: PostgresCluster) -> None:
    postgres_cluster.server.create_database("empty_for_check")
    engine = engine_for(postgres_cluster.server.url_for("empty_for_check"))
    try:
        with pytest.raises(SchemaBehind, match="run `helpline migrate`"):
            check_current(engine)
        assert migrate(engine) == [f"schema: empty -> {head_revision()}"]
        assert current_revision(engine) == head_revision()
        assert migrate(engine) == []  # nothing left to do: a second run is a no-op
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")) == 1
    finally:
        engine.dispose()
        postgres_cluster.server.drop_database("empty_for_check")


def test_the_wheel_carries_the_migrations() -> None:
    """Alembic finds them by package path (`record:migrations`), so they must be packages of the distribution."""
    root = Path(__file__).resolve().parent.parent.parent
    setuptools = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    folders = {p.parent.relative_to(root) for p in (root / "record").rglob("*.py")}
    includes = setuptools["packages"]["find"]["include"]
    packages = {str(folder).replace("/", ".") for folder in folders}
    assert all(any(fnmatch(package, pattern) for pattern in includes) for package in packages), includes
    assert "migrations/script.py.mako" in setuptools["package-data"]["record"]


def test_database_url_variables_and_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text('[database]\nurl = "postgresql://file@db/helpline"\n', encoding="utf-8")
    monkeypatch.delenv("HELPLINE_DATABASE__URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgres://standard@db/helpline")  # the conventional variable, Heroku style
    assert database_url(load_settings(settings_file)) == "postgresql+psycopg://standard@db/helpline"
    monkeypatch.setenv("HELPLINE_DATABASE__URL", "postgresql://ours@db/helpline")
    assert database_url(load_settings(settings_file)) == "postgresql+psycopg://ours@db/helpline"
    monkeypatch.delenv("HELPLINE_DATABASE__URL")
    monkeypatch.delenv("DATABASE_URL")
    settings_file.write_text('[database]\nembedded_dir = "/srv/helpline/pg"\n', encoding="utf-8")
    assert database_url(load_settings(settings_file)) == embedded_url(Path("/srv/helpline/pg"))
    assert embedded_url(Path("/srv/helpline/pg")) == "postgresql+psycopg://postgres@/helpline?host=/srv/helpline/pg/run"
