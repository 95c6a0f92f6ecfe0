"""Shared fixtures: one private redis-server per test session (wiped per test), an SMTP sink, Dovecot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from core.settings import Settings
from core.store import Store
from tests.support.dovecot import Dovecot
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
def settings(redis_server: RedisServer, smtp_sink: SmtpSink, tmp_path: Path) -> Settings:
    """The project's own settings.toml, pointed at the test servers."""
    from core.settings import load_settings

    base = load_settings(ROOT / "settings.toml")
    return base.model_copy(
        update={
            "redis": base.redis.model_copy(update={"url": redis_server.url}),
            "email": base.email.model_copy(
                update={
                    "outbound": base.email.outbound.model_copy(update={"host": "127.0.0.1", "port": smtp_sink.port})
                }
            ),
        }
    )
