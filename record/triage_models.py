"""Learned triage models in the record: every version `helpline train` published, so the history (and the active
model) survives Redis. Redis keeps the active copy that workers poll and hot-reload (core/model_store.py).

The active version is the one activated last (`activated_at`): `save_model` records a new version and, when asked,
activates it; `activate` makes an older one active again (a rollback).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects.postgresql import insert

from record.models import TriageModelRecord


@dataclass(frozen=True)
class ModelEntry:
    version: str
    model: bytes
    trained_at: datetime
    trained_by: str
    training_examples: int
    held_out_examples: int
    accuracy: dict[str, Any] = field(default_factory=dict)


def save_model(connection: Connection, entry: ModelEntry, *, activate_at: datetime | None = None) -> None:
    """Record a version (once: a version names its bytes, so saving it again changes nothing but the activation)."""
    connection.execute(
        insert(TriageModelRecord)
        .values(
            version=entry.version,
            model=entry.model,
            trained_at=entry.trained_at,
            trained_by=entry.trained_by,
            training_examples=entry.training_examples,
            held_out_examples=entry.held_out_examples,
            accuracy=entry.accuracy,
            activated_at=activate_at,
        )
        .on_conflict_do_nothing()
    )
    if activate_at is not None:
        activate(connection, entry.version, activate_at)


def activate(connection: Connection, version: str, at: datetime) -> None:
    """Make a recorded version the active one; `LookupError` for one the record does not hold."""
    updated = connection.execute(
        update(TriageModelRecord).where(TriageModelRecord.version == version).values(activated_at=at)
    )
    if updated.rowcount == 0:
        raise LookupError(f"the record holds no triage model {version!r}")


def active_model(connection: Connection) -> tuple[str, bytes] | None:
    """The active version and its bytes; None when no model was ever activated."""
    row = connection.execute(
        select(TriageModelRecord.version, TriageModelRecord.model)
        .where(TriageModelRecord.activated_at.is_not(None))
        .order_by(TriageModelRecord.activated_at.desc(), TriageModelRecord.trained_at.desc())
        .limit(1)
    ).first()
    return (row.version, bytes(row.model)) if row is not None else None


@dataclass(frozen=True)
class ModelSummary:
    version: str
    trained_at: datetime
    trained_by: str
    training_examples: int
    held_out_examples: int
    accuracy: dict[str, Any]
    activated_at: datetime | None


def model_history(connection: Connection, *, limit: int = 50) -> list[ModelSummary]:
    """Recorded versions without their bytes, the most recently trained first."""
    columns = [getattr(TriageModelRecord, name) for name in ModelSummary.__dataclass_fields__]
    rows = connection.execute(select(*columns).order_by(TriageModelRecord.trained_at.desc()).limit(limit))
    return [ModelSummary(**row._mapping) for row in rows]
