"""One way to reach the record: the configured `[database] url`, or the embedded cluster's socket."""

from __future__ import annotations

import os
import weakref
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

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


def engine_for(url: str, *, statement_timeout: float = 30.0) -> Engine:
    """A small pool (each worker is one process running one job at a time), connections checked before use (a
    restarted server must not fail the next job), and a statement timeout so no query holds a worker forever."""
    if make_url(url).get_backend_name() != "postgresql":
        raise ValueError(f"[database] url must be a PostgreSQL URL, got {make_url(url).render_as_string()}")
    engine = create_engine(
        url,
        pool_size=2,
        max_overflow=2,
        pool_pre_ping=True,
        connect_args={"options": f"-c statement_timeout={int(statement_timeout * 1000)}", "connect_timeout": 5},
    )
    # A forking worker (rq's default `Worker`) must not share the parent's pooled connections: a child starts with
    # an empty pool and leaves the parent's connections alone (SQLAlchemy's documented recipe).
    reference = weakref.ref(engine)
    os.register_at_fork(after_in_child=lambda: _forget_pool(reference))
    return engine


def _forget_pool(reference: weakref.ref[Engine]) -> None:
    engine = reference()
    if engine is not None:
        engine.dispose(close=False)
