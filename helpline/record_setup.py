"""Getting the record ready: the embedded PostgreSQL, `helpline migrate`, and the schema check a process makes
before it uses the record.

`helpline run` migrates only the embedded server (it owns it); a configured server is migrated by an operator's
`helpline migrate` (one step of a deploy), and a process that finds its schema behind exits with
`SCHEMA_BEHIND_EXIT`, which `helpline run` treats as fatal: restarting cannot fix it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from core.errors import StoreUnavailable
from core.redis_conn import connect as connect_redis
from core.settings import Settings
from core.store import Store
from record.embedded import EmbeddedPostgres
from record.engine import connect
from record.imports import data_imports
from record.migrate import SCHEMA_BEHIND_EXIT, SchemaBehind, check_current, head_revision, migrate
from router.normalize import normalize

log = logging.getLogger("helpline.record")


def start_embedded(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(Path(settings.database.embedded_dir)).start()


def migrate_record(settings: Settings) -> list[str]:
    """Schema migrations, then the numbered data imports (which read Redis: the store must answer)."""
    engine = connect(settings)
    try:
        done = migrate(engine, data_imports(Store(connect_redis(settings)), normalize, retention=settings.retention))
        return done + seed_agents(settings, engine)
    finally:
        engine.dispose()


def seed_agents(settings: Settings, engine: Engine) -> list[str]:
    """Add the `[[agents]]` of the settings missing from the store (idempotent: run at every start and migrate)."""
    from desk.agents import AgentStore  # here: the worker imports this module and needs none of it

    added = AgentStore(engine).seed(settings.agents)
    return [f"agent seeded: {email}" for email in added]


def seed_agents_now(settings: Settings, engine: Engine) -> None:
    """At a process's start: seed the settings' agents if the record answers; if not, say so and go on (the web
    app's webhooks do not need the record; `helpline migrate` seeds them too)."""
    if not settings.agents:
        return
    try:
        for line in seed_agents(settings, engine):
            log.info("%s", line)
    except SQLAlchemyError as exc:
        log.warning("agents not seeded (the record did not answer: %s); `helpline migrate` seeds them", exc)


def wait_for_record(settings: Settings, timeout: float = 60.0) -> None:
    """Wait until the record answers with a current schema; exit with `SCHEMA_BEHIND_EXIT` when it is behind.

    The embedded server is migrated by whoever started it (`helpline run`, `helpline serve postgres`), maybe just
    after this process started under a Procfile runner: a behind schema there is waited for too, not fatal."""
    engine = connect(settings)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                check_current(engine)
                return
            except SchemaBehind as exc:
                if settings.database.url or time.monotonic() > deadline:
                    log.error("%s", exc)
                    raise SystemExit(SCHEMA_BEHIND_EXIT) from None
                problem = str(exc)
            except OperationalError as exc:
                if time.monotonic() > deadline:
                    raise SystemExit(f"record not reachable after {timeout:.0f}s: {exc.orig}") from None
                problem = str(exc.orig)
            log.info("waiting for the record: %s", problem)
            time.sleep(0.2)
    finally:
        engine.dispose()


def migrate_command(settings: Settings, echo: Callable[[str], None]) -> int:
    """`helpline migrate`: with no [database] url, the embedded server is started for the run, or used as it is
    when a running `helpline run` holds it."""
    postgres: EmbeddedPostgres | None = None
    if not settings.database.url:
        try:
            postgres = start_embedded(settings)
        except RuntimeError as exc:
            if "already running" not in str(exc):
                echo(f"error: {exc}")
                return 1
    try:
        done = migrate_record(settings)
    except (OperationalError, StoreUnavailable) as exc:
        echo(f"error: {exc}")
        return 1
    finally:
        if postgres is not None:
            postgres.stop()
    for line in done:
        echo(line)
    echo(f"record is at schema {head_revision()}" + ("" if done else ": nothing to do"))
    return 0
