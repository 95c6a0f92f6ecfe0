"""One way to get a Redis connection: the configured URL, or the embedded server's socket."""

from __future__ import annotations

from pathlib import Path

from redis import Redis

from core.settings import Settings

EMBEDDED_SOCKET = "redis.sock"


def redis_url(settings: Settings) -> str:
    if settings.redis.url:
        return settings.redis.url
    return f"unix://{Path(settings.redis.embedded_dir).resolve() / EMBEDDED_SOCKET}"


def connect(settings: Settings) -> Redis:
    # Short timeouts: an ingest path must answer 451/503 quickly rather than hang the sender's connection.
    return Redis.from_url(redis_url(settings), socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)
