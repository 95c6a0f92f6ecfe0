"""One way to get a Redis connection: the configured URL, or the embedded server's socket."""

from __future__ import annotations

from pathlib import Path

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from core.settings import Settings

EMBEDDED_SOCKET = "redis.sock"


def redis_url(settings: Settings) -> str:
    if settings.redis.url:
        return settings.redis.url
    return f"unix://{Path(settings.redis.embedded_dir).resolve() / EMBEDDED_SOCKET}"


def connect(settings: Settings) -> Redis:
    return connect_url(redis_url(settings))


def connect_url(url: str, connect_timeout: float = 2.0) -> Redis:
    """Short timeouts and two quick retries: a blip is ridden out, but an ingest path whose store is really down
    answers 451/503 within seconds instead of hanging the sender's connection."""
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2)
    return Redis.from_url(
        url, socket_timeout=5, socket_connect_timeout=connect_timeout, health_check_interval=30, retry=retry
    )
