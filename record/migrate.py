"""Bring a record database up to date: Alembic's schema migrations, then the numbered data imports.

The migrations ship inside this package (`record/migrations`, found by package path), so an installed wheel
migrates from any folder: no `alembic.ini` is read. A process that uses the record calls `check_current` first and
exits with `SCHEMA_BEHIND_EXIT` when the database is behind its code: `helpline run` treats that code as fatal
instead of restarting the process in a loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, insert, select, text

from record.models import DataImport

log = logging.getLogger("helpline.migrate")

SCHEMA_BEHIND_EXIT = 78  # EX_CONFIG from sysexits.h: nothing a restart can fix
# One advisory lock for every migrating process: two `helpline migrate` at once wait for each other.
_MIGRATION_LOCK = 7_160_001


class SchemaBehind(RuntimeError):
    """The database's schema is older (or newer) than this code's migrations."""


@dataclass(frozen=True)
class DataImportStep:
    """A numbered, idempotent data import: run once per database after the schema migrations, in number order.
    `run` gets the migration connection (inside its transaction) and returns a summary kept with the mark."""

    number: int
    name: str
    run: Callable[[Connection], dict[str, Any]]
    # Work outside the database that must wait until the import has committed (expiring Redis keys, say).
    after_commit: Callable[[Engine], object] | None = None


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "record:migrations")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_current(engine: Engine) -> None:
    """Raise `SchemaBehind` unless the database is at this code's head revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaBehind(
            f"the record's schema is at {current or 'nothing'}, this code needs {head}: run `helpline migrate`"
        )


def migrate(
    engine: Engine, data_imports: Sequence[DataImportStep] = (), *, now: Callable[[], datetime] | None = None
) -> list[str]:
    """Apply pending schema migrations, then pending data imports; return what was done, one line each."""
    clock = now or (lambda: datetime.now(UTC))
    done: list[str] = []
    ran: list[DataImportStep] = []
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(alembic_config(connection), "head")
        after = MigrationContext.configure(connection).get_current_revision()
        if before != after:
            done.append(f"schema: {before or 'empty'} -> {after}")
        applied = set(connection.scalars(select(DataImport.number)))
        for step in sorted(data_imports, key=lambda s: s.number):
            if step.number in applied:
                continue
            summary = step.run(connection)
            connection.execute(
                insert(DataImport).values(number=step.number, name=step.name, applied_at=clock(), detail=summary)
            )
            done.append(f"data import {step.number} ({step.name}): {summary}")
            ran.append(step)
    for step in ran:
        if step.after_commit is not None:
            step.after_commit(engine)
    for line in done:
        log.info("%s", line)
    return done
