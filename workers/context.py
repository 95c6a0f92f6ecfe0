"""What a job needs (settings, store, router, the record's engine, the attachment store), built once per worker
process.

RQ jobs are plain functions called with ids only; they reach their dependencies here. `workers.run.work` (and the
tests' `drain`) install a context explicitly; a bare `rq worker` falls back to loading the settings file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from channels.base import Sender
from channels.registry import sender_for
from core.envelope import Channel
from core.records import StoredMessage
from core.redis_conn import connect
from core.settings import Settings, load_settings
from core.store import Store
from record.attachment_store import AttachmentStore, open_attachment_store
from record.engine import connect as connect_record
from record.messages import load_message
from router.engine import Router
from router.hours import BusinessCalendar
from workers.triage import compile_with_model, current_model


@dataclass
class Context:
    settings: Settings
    store: Store
    # A callable so that hot reload can swap the rules between two jobs without touching the context.
    router: Callable[[], Router]
    calendar: BusinessCalendar
    record: Engine  # the system of record (PostgreSQL); connects on first use
    attachments: AttachmentStore  # attachments' content (a folder or an S3 bucket)
    _senders: dict[Channel, Sender] = field(default_factory=dict)

    def sender(self, channel: Channel) -> Sender:
        """The channel's sender, made once per context (per worker process): the Twilio client keeps its HTTP
        connection (and its API objects) from one send to the next, as the email relay and the Telegram bot do."""
        if channel not in self._senders:
            self._senders[channel] = sender_for(channel, self.settings, self.store)
        return self._senders[channel]

    def message(self, message_id: str, *, warm: bool = True) -> StoredMessage | None:
        """A stored message, for every job and command that reads one: its hot copy in Redis, or once that has
        expired (`retention.hot_message_days` after it was recorded) the record's row rebuilt (record/messages.py).
        `warm` puts a rebuilt copy back in Redis for another hot period, so the `store.update_message` calls that
        follow (notes, a resolution) and the jobs they queue (the answer's send, the survey) find it; a reader that
        changes nothing passes `warm=False`."""
        seconds = int(self.settings.retention.hot_message_days * 86400) if warm else 0
        return load_message(self.store, self.record, message_id, warm_seconds=seconds)


_context: Context | None = None


def install(context: Context) -> None:
    global _context
    _context = context


def context_for(settings: Settings, store: Store | None = None) -> Context:
    """A context whose router uses the store's current triage model (fixed: `workers.run` hot-reloads instead)."""
    store = store or Store(connect(settings))
    record = connect_record(settings)
    router = compile_with_model(settings.router, current_model(store, settings.router, record))
    calendar = BusinessCalendar.from_settings(settings)
    return Context(settings, store, lambda: router, calendar, record, open_attachment_store(settings))


def current() -> Context:
    global _context
    if _context is None:
        _context = context_for(load_settings())
    return _context
