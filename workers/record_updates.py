"""The record follows the hot store: record-update jobs, the send job's outcome, and what a PostgreSQL outage does.

**Record-update jobs** (`update_record`, queued by core/record_queue.py from webhooks and senders) copy a message
or a contact from its hot copy into the record. A message the record does not hold yet (its
pipeline job has not run) raises, and RQ retries it later; one that never reached the record (it predates it and the
import has not run) is logged and left.

**Replies** reach the record in batches (`record_replies`): a reply made final by its send job, or changed by a
delivery-status webhook, joins Redis's set of replies waiting for the record in the same MULTI
(core/record_queue.py), and one job writes up to `REPLY_BATCH` of them in one transaction. Under load that is one
commit for many replies instead of one each; a send job never waits for PostgreSQL, and the reply was sent whatever
the record does next.

**A PostgreSQL outage pauses jobs rather than spending their retries.** A job that finds the record unreachable
queues itself again `PAUSE_SECONDS` later under a new job id and ends normally, so RQ's retries (six, up to an hour
apart) are kept for real failures and no message waits an hour after the record is back. The worker remembers the
outage for `PAUSE_SECONDS`: the jobs behind it are paused at once instead of each waiting for a connection to fail.
(The other choice, a worker that stops taking jobs until the record answers, would also stop the jobs that need no
record, such as sending replies already planned, and every worker would have to poll.)
An attachment bucket that cannot be reached (`AttachmentStoreUnavailable`, record/attachment_store.py) counts as an
unreachable record: the pipeline job that writes the content pauses the same way.
"""

from __future__ import annotations

import contextlib
import logging
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from psycopg.errors import QueryCanceled
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from core import inflight
from core.errors import StoreUnavailable
from core.inflight import Kind
from core.notices import Notice
from core.record_queue import (
    CORRECTION_JOB,
    NOTICE_JOB,
    RECORD_QUEUE,
    SLA_EVENT_JOB,
    Item,
    queue_replies,
    queue_update,
    replies_job_started,
    replies_recorded,
    replies_run_ended,
    waiting_replies,
)
from core.records import MessageState, Reply, utcnow
from core.store import INBOUND_QUEUE, JOB_RETRY, PROCESS_JOB, store_errors
from record.attachment_store import AttachmentStoreUnavailable
from record.corrections import ACTION as CORRECTION
from record.corrections import write_correction
from record.hot_copy import contact_entry
from record.models import AuditEntry, Conversation, Message, SlaEvent
from record.notices import withdraw_notice, write_notice
from record.updates import refresh_contact, refresh_message
from record.writer import entry_for, write_replies
from router.normalize import normalize
from workers.context import Context, current

log = logging.getLogger("helpline.record")

PAUSE_SECONDS = 10.0
# What a job paused this way returns (RQ keeps it as the job's result; a pipeline job running others stops on it).
PAUSED = f"paused: the record is unreachable; again in {PAUSE_SECONDS:g}s"
_T = TypeVar("_T")


class RecordUnreachable(Exception):
    """The record cannot be reached now (refused, timed out, restarting): the job waits, it has not failed."""


class NotYetRecorded(Exception):
    """The record does not hold the item yet; RQ retries the job later."""


# Per engine (one per worker process; tests switch between a reachable and an unreachable one in one process).
_down_until: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()


def unreachable(exc: BaseException) -> bool:
    """Whether a database error means the server is away (rather than a statement that is wrong)."""
    if isinstance(exc, RecordUnreachable | AttachmentStoreUnavailable):  # the attachment bucket is part of the record
        return True
    if isinstance(exc, OperationalError):  # psycopg's OperationalError also covers a statement that timed out
        return not isinstance(exc.orig, QueryCanceled)
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def with_record(record: Engine, work: Callable[[], _T]) -> _T:
    """Run `work` (which uses `record`); RecordUnreachable when the record is, or was a moment ago, away."""
    if time.monotonic() < _down_until.get(record, 0.0):
        raise RecordUnreachable("the record was unreachable a moment ago")
    try:
        return work()
    except Exception as exc:
        if not unreachable(exc):
            raise
        _down_until[record] = time.monotonic() + PAUSE_SECONDS
        log.warning("the record is unreachable (%s); pausing jobs that need it for %.0fs", exc, PAUSE_SECONDS)
        raise RecordUnreachable(str(exc)) from exc


def pause_process(ctx: Context, message_id: str) -> str:
    """Queue the message's pipeline job again `PAUSE_SECONDS` from now, under a new id, its in-flight entry pointing
    at it (one MULTI): the reconciler sees a scheduled job, not a lost one."""
    _process_later(ctx, message_id, PAUSE_SECONDS, f"process-{message_id}-paused-{time.time_ns()}")
    return PAUSED


def retry_process_later(ctx: Context, message_id: str) -> None:
    """A message whose pipeline failed in another message's job (workers/jobs.py `_run_queued`): its own job, with
    RQ's retries, after the first retry's wait, as if its own job had failed."""
    with contextlib.suppress(StoreUnavailable):  # its in-flight entry still names the job that took it: reconciled
        _process_later(ctx, message_id, JOB_RETRY.intervals[0], f"process-{message_id}")


def _process_later(ctx: Context, message_id: str, delay: float, job_id: str) -> None:
    queue = ctx.store.queue(INBOUND_QUEUE)
    with store_errors(), ctx.store.redis.pipeline() as pipe:
        pipe.multi()  # explicitly first: RQ adds its own MULTI to a pipeline that has none yet
        queue.enqueue_in(
            timedelta(seconds=delay), PROCESS_JOB, message_id, job_id=job_id, retry=JOB_RETRY, pipeline=pipe
        )
        inflight.track(pipe, ctx.store, Kind.PROCESS, message_id, queue.name, job_id, time.time() + delay)
        pipe.execute()


def update_record(item: str, item_id: str) -> str:
    """Copy one item's hot copy into the record (a record-update job)."""
    ctx = current()
    kind = Item(item)
    try:
        return with_record(ctx.record, lambda: _update(ctx, kind, item_id))
    except RecordUnreachable:
        queue_update(ctx.store, kind, item_id, delay=PAUSE_SECONDS)
        return PAUSED


def _update(ctx: Context, kind: Item, item_id: str) -> str:
    if kind is Item.REPLY:  # a job an earlier version queued: the reply joins the others waiting for the record
        queue_update(ctx.store, kind, item_id)
        return f"reply {item_id} waits with the replies for the record"
    if kind is Item.MESSAGE:
        message = ctx.store.get_message(item_id)
        if message is None:
            return f"message {item_id} is no longer in the store"
        with ctx.record.begin() as connection:
            if refresh_message(connection, entry_for(message, normalize), utcnow()):
                return f"message {item_id} updated"
        if message.state is MessageState.RECEIVED:
            raise NotYetRecorded(f"message {item_id} waits for its pipeline job")
        log.warning("message %s changed but the record does not hold it (it predates the record?)", item_id)
        return f"message {item_id} is not in the record"
    contact = contact_entry(ctx.store, item_id, fallback_time=utcnow())
    if not contact.identities:
        return f"contact {item_id} is no longer in the store"
    with ctx.record.begin() as connection:
        refresh_contact(connection, contact)
    return f"contact {item_id} updated"


def record_sla_event(message_id: str, kind: str, at: str, due: str | None, happened: bool) -> str:
    """Store an SLA result once per message and kind (a re-run, or the scheduler's breach followed by the late
    answer's, adds nothing), and stamp the case's first response or resolution when it `happened`."""
    ctx = current()
    try:
        return with_record(ctx.record, lambda: _sla_event(ctx, message_id, kind, at, due, happened))
    except RecordUnreachable:
        ctx.store.queue(RECORD_QUEUE).enqueue_in(
            timedelta(seconds=PAUSE_SECONDS), SLA_EVENT_JOB, message_id, kind, at, due, happened, retry=JOB_RETRY
        )
        return PAUSED


def _sla_event(ctx: Context, message_id: str, kind: str, at: str, due: str | None, happened: bool) -> str:
    when = datetime.fromisoformat(at)
    with ctx.record.begin() as connection:
        found = connection.execute(
            select(Message.conversation_id, Message.decision).where(Message.id == message_id)
        ).first()
        if found is None:
            raise NotYetRecorded(f"SLA event for {message_id}: the message is not in the record yet")
        conversation_id, decision = found.conversation_id, found.decision or {}
        known = connection.scalar(select(SlaEvent.id).where(SlaEvent.message_id == message_id, SlaEvent.kind == kind))
        if known is None:
            connection.execute(
                insert(SlaEvent).values(
                    conversation_id=conversation_id, message_id=message_id, kind=kind, queue=decision.get("queue"),
                    category=decision.get("category"), due_at=datetime.fromisoformat(due) if due else None, at=when,
                )
            )  # fmt: skip
        if happened and conversation_id is not None:
            column = "first_response_at" if kind.startswith("first_response") else "resolved_at"
            stamp: dict[str, Any] = {column: func.coalesce(getattr(Conversation, column), when)}
            if column == "resolved_at":
                stamp["status"] = "resolved"
            connection.execute(update(Conversation).where(Conversation.id == conversation_id).values(**stamp))
    return f"{kind} for {message_id}" + (" (already recorded)" if known is not None else "")


def record_correction(
    message_id: str, from_category: str, to_category: str, queue: str | None, agent: str, reason: str, at: str
) -> str:
    """Keep an agent's category correction in the record's audit log, once (a re-run finds it by message and time)."""
    ctx = current()
    args = (message_id, from_category, to_category, queue, agent, reason, at)

    def write() -> str:
        when = datetime.fromisoformat(at)
        with ctx.record.begin() as connection:
            known = connection.scalar(
                select(AuditEntry.id).where(
                    AuditEntry.action == CORRECTION, AuditEntry.subject_id == message_id, AuditEntry.at == when
                )
            )
            if known is None:
                write_correction(
                    connection, message_id=message_id, from_category=from_category, to_category=to_category,
                    queue=queue, agent=agent, reason=reason, at=when,
                )  # fmt: skip
        return f"correction of {message_id} {from_category} -> {to_category}" + (" (already recorded)" if known else "")

    try:
        return with_record(ctx.record, write)
    except RecordUnreachable:
        ctx.store.queue(RECORD_QUEUE).enqueue_in(
            timedelta(seconds=PAUSE_SECONDS), CORRECTION_JOB, *args, retry=JOB_RETRY
        )
        return PAUSED


def record_notice(notice_id: str, notice_json: str | None, withdrawn_at: str | None) -> str:
    """Keep a notice's history (queued by core/notices.py when an admin adds or withdraws one)."""
    ctx = current()
    try:
        return with_record(ctx.record, lambda: _notice(ctx, notice_id, notice_json, withdrawn_at))
    except RecordUnreachable:
        ctx.store.queue(RECORD_QUEUE).enqueue_in(
            timedelta(seconds=PAUSE_SECONDS), NOTICE_JOB, notice_id, notice_json, withdrawn_at, retry=JOB_RETRY
        )
        return PAUSED


def _notice(ctx: Context, notice_id: str, notice_json: str | None, withdrawn_at: str | None) -> str:
    withdrawn = datetime.fromisoformat(withdrawn_at) if withdrawn_at else None
    with ctx.record.begin() as connection:
        if notice_json is not None:
            write_notice(connection, Notice.model_validate_json(notice_json), withdrawn)
        elif withdrawn is None or not withdraw_notice(connection, notice_id, withdrawn):
            # Withdrawn after its Redis copy expired, and its `add` job has not run yet: RQ retries this one.
            raise NotYetRecorded(f"notice {notice_id} is not in the record yet")
    return f"notice {notice_id} " + ("withdrawn" if withdrawn else "recorded")


REPLY_BATCH = 500


def record_replies() -> str:
    """Record the replies waiting for the record (core/record_queue.py), up to `REPLY_BATCH` of them, their rows
    and delivery events in one transaction. A reply whose message the record does not hold yet (its pipeline job
    has not run) waits for a later run; one whose message is nowhere (gone from Redis, never recorded: it predates
    the record) is logged and let go, as is one no longer in Redis."""
    ctx = current()
    replies_job_started(ctx.store)
    batch = waiting_replies(ctx.store, REPLY_BATCH)
    replies = ctx.store.get_replies([reply_id for reply_id, _ in batch])
    try:
        waiting = with_record(ctx.record, lambda: _write_replies(ctx, replies))
    except RecordUnreachable:
        queue_replies(ctx.store, delay=PAUSE_SECONDS)
        return PAUSED
    orphans = {reply.id for reply in waiting if ctx.store.get_message(reply.message_id) is None}
    for reply_id in sorted(orphans):
        log.warning("reply %s: its message is neither in the record nor in Redis; not recorded", reply_id)
    still_waiting = {reply.id for reply in waiting} - orphans
    replies_recorded(ctx.store, [(reply_id, changed) for reply_id, changed in batch if reply_id not in still_waiting])
    if still_waiting:  # later: at once would read the same waiting replies again and again
        queue_replies(ctx.store, delay=PAUSE_SECONDS)
    full, moved_on = len(batch) == REPLY_BATCH, len(still_waiting) < len(batch)
    replies_run_ended(ctx.store, still_waiting=len(still_waiting), full=full, moved_on=moved_on)
    recorded = len(replies) - len(waiting)
    return f"recorded {recorded} replies; {len(still_waiting)} wait for their messages"


def _write_replies(ctx: Context, replies: list[Reply]) -> list[Reply]:
    """Write the replies whose messages the record holds; returns the others."""
    with ctx.record.begin() as connection:
        messages = {reply.message_id for reply in replies}
        recorded = set(connection.scalars(select(Message.id).where(Message.id.in_(messages)))) if messages else set()
        write_replies(connection, [reply for reply in replies if reply.message_id in recorded], normalize)
    return [reply for reply in replies if reply.message_id not in recorded]
