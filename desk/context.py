"""What the desk needs from its caller: settings, the hot store, the business calendar and the record's engine.

A protocol, not a class of its own: the workers' `Context` (workers/context.py) has these attributes and is passed
as it is, and the CLI and the web app build a `DeskContext` with `desk_context`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from core.records import StoredMessage
from core.redis_conn import connect
from core.settings import Settings
from core.store import Store
from record.engine import connect as connect_record
from record.messages import load_message
from router.hours import BusinessCalendar


def desk_message(ctx: HasDesk, message_id: str, *, warm: bool = True) -> StoredMessage | None:
    """A case's message: its hot copy, or once that expired (`retention.hot_message_days` after it was recorded) the
    record's row rebuilt (record/messages.py). `warm` puts a rebuilt copy back in Redis for another hot period, so the
    `store.update_message` calls and the jobs that follow (notes, an answer's send, the survey) find it."""
    seconds = int(ctx.settings.retention.hot_message_days * 86400) if warm else 0
    return load_message(ctx.store, ctx.record, message_id, warm_seconds=seconds)


class HasDesk(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> Store: ...
    @property
    def calendar(self) -> BusinessCalendar: ...
    @property
    def record(self) -> Engine: ...


@dataclass
class DeskContext:
    settings: Settings
    store: Store
    calendar: BusinessCalendar
    record: Engine


def desk_context(settings: Settings, store: Store | None = None) -> DeskContext:
    store = store or Store(connect(settings))
    return DeskContext(settings, store, BusinessCalendar.from_settings(settings), connect_record(settings))
