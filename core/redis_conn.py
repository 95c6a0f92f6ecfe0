"""One way to get a Redis connection: the configured URL, the master behind Redis Sentinel, or the embedded server's
socket.

With Sentinel, the client is redis-py's `Sentinel.master_for`: every new connection asks the sentinels where the
master is, and a connection to a demoted or dead master is dropped, so after a failover the next command (or the
retry below) reaches the new master. RQ takes the same client, so workers, the scheduler, the pollers and the web app
all follow a failover the same way. The client is a `ReplicatedRedis`: `Store.accept` sees it and waits for
`redis.replica_acks` replicas (WAIT) before a message is acknowledged, so a failover cannot lose a message its sender
was told was stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from core.settings import RedisSettings, Settings

EMBEDDED_SOCKET = "redis.sock"
SENTINEL_TIMEOUT_SECONDS = 1.0  # a sentinel that does not answer within this is skipped for the next one
REPLICA_COUNT_SECONDS = 1.0


@dataclass(frozen=True)
class ReplicaWait:
    replicas: int
    timeout_ms: int


class ReplicatedRedis(Redis):
    """A client of a replicated master: writes that acknowledge something to a sender wait for `replica_wait`.

    A class attribute, not an `__init__` argument: RQ rebuilds clients from `type(client)(connection_pool=…)`."""

    replica_wait: ReplicaWait | None = None
    _replicas_seen: tuple[float, int] = (-REPLICA_COUNT_SECONDS, 0)  # (when, how many replicas the master had)

    def replicas_to_confirm(self) -> int:
        """`replica_acks`, or as many replicas as the master has when that is fewer.

        After a failover with one replica the new master has none until the old one comes back as its replica:
        waiting for a replica that does not exist would refuse all mail, and with no replica there is also no one a
        failover could promote over this write (the master's own AOF keeps it). The count is read at most once every
        `REPLICA_COUNT_SECONDS` (INFO replication), not once per message."""
        if self.replica_wait is None or self.replica_wait.replicas == 0:
            return 0
        checked_at, connected = self._replicas_seen
        now = time.monotonic()
        if now - checked_at >= REPLICA_COUNT_SECONDS:
            connected = int(self.info("replication").get("connected_slaves", 0))
            self._replicas_seen = (now, connected)
        return min(self.replica_wait.replicas, connected)

    def forget_replica_count(self) -> None:
        self._replicas_seen = (-REPLICA_COUNT_SECONDS, 0)


def redis_url(settings: Settings) -> str:
    if settings.redis.url:
        return settings.redis.url
    return f"unix://{Path(settings.redis.embedded_dir).resolve() / EMBEDDED_SOCKET}"


def connect(settings: Settings) -> Redis:
    if settings.redis.sentinels:
        return connect_sentinel(settings.redis)
    return connect_url(redis_url(settings))


def _client_options(connect_timeout: float) -> dict[str, Any]:
    """Short timeouts and two quick retries: a blip is ridden out, but an ingest path whose store is really down
    answers 451/503 within seconds instead of hanging the sender's connection."""
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2)
    return {
        "socket_timeout": 5,
        "socket_connect_timeout": connect_timeout,
        "health_check_interval": 30,
        "retry": retry,
    }


def connect_url(url: str, connect_timeout: float = 2.0) -> Redis:
    return Redis.from_url(url, **_client_options(connect_timeout))


def connect_sentinel(redis: RedisSettings, connect_timeout: float = 2.0) -> Redis:
    assert redis.service is not None
    sentinels = [(host, int(port)) for host, _, port in (entry.rpartition(":") for entry in redis.sentinels)]
    timeouts = {"socket_timeout": SENTINEL_TIMEOUT_SECONDS, "socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS}
    sentinel = Sentinel(sentinels, sentinel_kwargs=timeouts)  # type: ignore[no-untyped-call]
    # One class per connection: the wait settings belong to this client (and the ones RQ rebuilds from it) only.
    client_class = type(
        "ReplicatedRedis",
        (ReplicatedRedis,),
        {"replica_wait": ReplicaWait(redis.replica_acks, redis.replica_wait_ms), "__module__": __name__},
    )
    password = redis.password.get_secret_value() if redis.password else None
    client: Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        redis.service, redis_class=client_class, password=password, **_client_options(connect_timeout)
    )
    return client
