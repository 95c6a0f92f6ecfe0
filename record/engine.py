"""One way to reach the record: the configured `[database] url`, or the embedded cluster's socket."""

from __future__ import annotations

import os
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry

from core.settings import Settings
from record.embedded import embedded_url


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL: `postgres://` and `postgresql://` (what hosts hand out) get the psycopg 3 driver."""
    if not settings.database.url:
        return embedded_url(Path(settings.database.embedded_dir))
    url = settings.database.url
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def connect(settings: Settings) -> Engine:
    return engine_for(database_url(settings), statement_timeout=settings.database.statement_timeout_seconds)


def autocommitting(engine: Engine) -> Connection:
    """A connection on which every statement is its own transaction: for a write that is one statement, one round
    trip where `engine.begin()` takes three (BEGIN, the statement, COMMIT). The message's write with everything it
    brings is one statement (record/writer.py): 0.13 ms of wall time and 0.06 ms of CPU less a message (BENCHMARKS)."""
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


# A pooled connection idle longer than this is pinged before use (a restarted server must not fail the next job);
# one used a moment ago is not: a ping per checkout was a round trip per job, a tenth of the record step's (BENCHMARKS).
PING_AFTER_IDLE_SECONDS = 2.0


def engine_for(url: str, *, statement_timeout: float = 30.0) -> Engine:
    """A small pool (each worker is one process running one job at a time; the last connection returned is the next
    one taken, so a busy worker keeps one warm), connections idle for a while checked before use, and a statement
    timeout so no query holds a worker forever."""
    if make_url(url).get_backend_name() != "postgresql":
        raise ValueError(f"[database] url must be a PostgreSQL URL, got {make_url(url).render_as_string()}")
    engine = create_engine(
        url,
        pool_size=2,
        max_overflow=2,
        pool_use_lifo=True,
        connect_args={"options": f"-c statement_timeout={int(statement_timeout * 1000)}", "connect_timeout": 5},
    )
    _ping_when_idle(engine)
    # A forking worker (rq's default `Worker`) must not share the parent's pooled connections: a child starts with
    # an empty pool and leaves the parent's connections alone (SQLAlchemy's documented recipe).
    reference = weakref.ref(engine)
    os.register_at_fork(after_in_child=lambda: _forget_pool(reference))
    return engine


def _forget_pool(reference: weakref.ref[Engine]) -> None:
    engine = reference()
    if engine is not None:
        engine.dispose(close=False)


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's pre-ping, only for a connection idle past `PING_AFTER_IDLE_SECONDS`: a dead one is replaced
    (DisconnectionError makes the pool discard it and take another). A server that restarted within that moment
    fails one job's statement instead; the job pauses and runs again (workers/record_updates.py), nothing is lost."""

    @event.listens_for(engine.pool, "checkin")
    def _returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _taken(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return  # new (just connected), or used a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(str(exc)) from exc
        if not alive:
            raise DisconnectionError("the connection did not answer a ping")
