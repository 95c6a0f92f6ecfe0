"""`helpline migrate` against a configured server: schema first, then nothing left to do."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from helpline.cli import app
from record.migrate import head_revision
from tests.support.postgres import PostgresCluster
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent.parent


def test_migrate_brings_an_empty_database_to_head_once(
    postgres_cluster: PostgresCluster, redis_server: RedisServer
) -> None:
    postgres_cluster.server.create_database("empty_for_cli")
    env = {
        "HELPLINE_DATABASE__URL": postgres_cluster.server.url_for("empty_for_cli"),
        "HELPLINE_REDIS__URL": redis_server.url,
    }
    try:
        first = CliRunner().invoke(app, ["migrate", "--settings", str(ROOT / "settings.toml")], env=env)
        assert first.exit_code == 0, first.output
        assert f"schema: empty -> {head_revision()}" in first.output
        again = CliRunner().invoke(app, ["migrate", "--settings", str(ROOT / "settings.toml")], env=env)
        assert again.exit_code == 0, again.output
        assert again.output.strip() == f"record is at schema {head_revision()}: nothing to do"
    finally:
        postgres_cluster.server.drop_database("empty_for_cli")


def test_migrate_names_an_unreachable_server(redis_server: RedisServer) -> None:
    env = {
        "HELPLINE_DATABASE__URL": "postgresql://nobody@/helpline?host=/nonexistent-socket-dir",
        "HELPLINE_REDIS__URL": redis_server.url,
    }
    result = CliRunner().invoke(app, ["migrate", "--settings", str(ROOT / "settings.toml")], env=env)
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
