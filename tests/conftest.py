"""Shared fixtures: one private redis-server per test session (wiped per test), one private PostgreSQL cluster per
test session (a fresh migrated database per test), an SMTP sink, Dovecot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from core.settings import Settings
from core.store import Store
from tests.support.dovecot import Dovecot
from tests.support.postgres import PostgresCluster
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[Redis]:
    client = redis_server.client()
    client.flushdb()  # our own server: no other test or developer shares it
    yield client
    client.close()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """Session scope: under pytest-xdist each worker has its own session, so its own cluster."""
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def record_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh database with the record's schema, copied from the migrated template."""
    url = postgres_cluster.new_database()
    yield url
    postgres_cluster.drop(url)


@pytest.fixture
def store(redis: Redis) -> Store:
    return Store(redis)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot().start()
    yield server
    server.remove()


@pytest.fixture
def settings(redis_server: RedisServer, smtp_sink: SmtpSink, record_url: str, tmp_path: Path) -> Settings:
    """The project's own settings.toml, pointed at the test servers."""
    from core.settings import load_settings

    base = load_settings(ROOT / "settings.toml")
    return base.model_copy(
        update={
            "redis": base.redis.model_copy(update={"url": redis_server.url}),
            "database": base.database.model_copy(update={"url": record_url}),
            "attachments": base.attachments.model_copy(update={"dir": tmp_path / "attachments"}),
            "email": base.email.model_copy(
                update={
                    "outbound": base.email.outbound.model_copy(update={"host": "127.0.0.1", "port": smtp_sink.port})
                }
            ),
        }
    )
