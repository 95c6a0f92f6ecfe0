"""RQ job functions. They take ids only: the message itself is in the store, never in the job payload."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import NoReturn

from jinja2 import TemplateError
from redis.exceptions import LockError
from rq import Queue, get_current_job

from channels.email import send_notice
from channels.registry import sender_for
from core import inflight
from core.envelope import Priority
from core.errors import PermanentSendError, SendError, StoreUnavailable, TransientSendError
from core.inflight import Kind
from core.queues import reply_queue
from core.records import MessageState, Reply, ReplyState, StoredMessage
from core.store import JOB_RETRY, Store, store_errors
from workers import acknowledge
from workers.context import Context, current
from workers.pipeline import Drop, Work, run_pipeline
from workers.record_step import record_dropped
from workers.record_updates import RecordUnreachable, pause_process, record_reply, with_record

log = logging.getLogger("helpline.jobs")

SEND_JOB = "workers.jobs.send_reply"


def process_message(message_id: str) -> str:
    """Run the pipeline on a stored message, then queue its acknowledgement.

    Safe to run again after a crash at any point (RQ retries it, the reconciler queues it again when its worker
    died): every step is idempotent (the conversation a message joined is recorded with it, filing is ZADD NX, the
    acknowledgement has a fixed id per message), and a message routed before the crash still gets its
    acknowledgement planned. Its in-flight entry (core/inflight.py) is cleared only once all that is done.
    """
    ctx = current()
    message = ctx.store.get_message(message_id)
    if message is None:
        inflight.clear(ctx.store, Kind.PROCESS, message_id)
        fail_for_good(LookupError(f"message {message_id} is not in the store"))
    try:
        outcome = with_record(ctx.record, lambda: _process(ctx, message))
    except RecordUnreachable:  # waits for the record without spending an RQ retry (workers/record_updates.py)
        return pause_process(ctx, message_id)
    inflight.clear(ctx.store, Kind.PROCESS, message_id)
    return outcome


def _process(ctx: Context, message: StoredMessage) -> str:
    message_id = message.id
    if message.state is MessageState.RECEIVED:
        outcome = run_pipeline(Work(message), ctx)
        if isinstance(outcome, Drop):

            def dropped(m: StoredMessage) -> None:
                m.state, m.drop_reason = MessageState.DROPPED, outcome.reason

            record_dropped(ctx.store.update_message(message_id, dropped), ctx)
            log.info("dropped %s: %s", message_id, outcome.reason)
            return f"dropped: {outcome.reason}"

        def routed(m: StoredMessage) -> None:
            m.state = MessageState.ROUTED
            m.contact_id, m.conversation_id, m.decision = outcome.contact_id, outcome.conversation_id, outcome.decision
            m.envelope.extras.update(outcome.envelope.extras)
            m.notes += outcome.notes

        message = ctx.store.update_message(message_id, routed)
    if message.state is MessageState.DROPPED:
        record_dropped(message, ctx)  # a re-run after a crash between the two writes; recording twice is a no-op
    if message.state is not MessageState.ROUTED:
        return f"already {message.state.value}"
    if message.ack_status in (None, "queued"):  # "queued" too: a crash may have come before the job was queued
        plan_acknowledgement(message)
    assert message.decision is not None
    return f"routed to {message.decision.queue}/{message.decision.priority.value}"


def plan_acknowledgement(message: StoredMessage) -> None:
    ctx = current()
    reply = ctx.store.get_reply(acknowledge.acknowledgement_id(message))
    if reply is None:
        reason = acknowledge.skip_reason(message, ctx)
        if reason is None and not acknowledge.take_cap_slot(message, ctx):
            reason = "auto-reply cap for this contact reached"
        if reason is not None:
            _record_send_outcome(ctx.store, message.id, f"suppressed: {reason}")
            return
        try:
            reply = acknowledge.build_acknowledgement(message, ctx)
        except TemplateError as exc:  # a retry cannot fix a template: record it where operators look
            log.error("acknowledgement for %s not rendered: %s", message.id, exc)
            _record_send_outcome(ctx.store, message.id, f"failed: template {exc}")
            return
        ctx.store.save_reply(reply)
    elif reply.state is not ReplyState.QUEUED:
        return  # sent or failed already, and its outcome recorded: nothing to queue again
    elif inflight.is_tracked(ctx.store, Kind.SEND, reply.id):
        return  # a re-run after the job was queued: a second job would let two workers send it twice
    # Recorded before the job is queued: the job's own outcome must come after it.
    _record_send_outcome(ctx.store, message.id, "queued")
    assert message.decision is not None
    enqueue_send(ctx, reply.id, message.decision.priority)


def queue_reply(ctx: Context, reply: Reply, priority: Priority) -> Queue:
    """Save a new `reply` and queue its sending (`send_reply`) on the reply queue of `priority`, in one MULTI;
    returns that queue."""
    return enqueue_send(ctx, reply.id, priority, new_reply=reply)


def send_job_id(reply_id: str, attempt: int) -> str:
    """One job id per attempt: a retry is queued while the attempt before it is still finishing under its own id."""
    return f"send-{reply_id}" if attempt <= 1 else f"send-{reply_id}-{attempt}"


def enqueue_send(
    ctx: Context,
    reply_id: str,
    priority: Priority,
    *,
    attempt: int = 1,
    delay: float = 0,
    new_reply: Reply | None = None,
) -> Queue:
    """Queue (or schedule, after `delay` seconds) the send job of attempt `attempt` and point the reply's in-flight
    entry at it, in one MULTI (with `new_reply` saved in it too): never a job without its entry or its reply, nor an
    entry without its job."""
    queue = reply_queue(priority, ctx.store)
    job_id = send_job_id(reply_id, attempt)
    with store_errors(), ctx.store.redis.pipeline() as pipe:
        pipe.multi()  # explicitly first: RQ adds its own MULTI to a pipeline that has none yet
        if new_reply is not None:
            ctx.store.save_new_reply(new_reply, pipe)
        if delay > 0:
            queue.enqueue_in(
                timedelta(seconds=delay), SEND_JOB, reply_id, job_id=job_id, retry=JOB_RETRY, pipeline=pipe
            )
        else:
            queue.enqueue_call(SEND_JOB, args=(reply_id,), job_id=job_id, retry=JOB_RETRY, pipeline=pipe)
        # Tracked from when the job is due: a retry scheduled for later is not overdue before then.
        inflight.track(pipe, ctx.store, Kind.SEND, reply_id, queue.name, job_id, time.time() + delay)
        pipe.execute()
    return queue


def send_reply(reply_id: str) -> str:
    """Send one reply through its channel. Every way it can end is recorded on the reply and its message: sent;
    failed for good (the provider can never take it); or failed for now (a transient error, or anything a sender did
    not foresee), tried again with backoff until `replies.max_send_attempts`, then failed for good, and the job with
    it. Only one job at a time may send a given reply (a lease held for at most a job's timeout)."""
    ctx = current()
    lease = ctx.store.redis.lock(
        ctx.store.key("sendlease", reply_id), timeout=ctx.settings.workers.job_timeout_seconds, blocking=False
    )
    if not lease.acquire():
        return "being sent by another job"  # if that job dies, the reconciler queues this reply again
    try:
        reply = ctx.store.get_reply(reply_id)
        if reply is None:
            inflight.clear(ctx.store, Kind.SEND, reply_id)
            fail_for_good(LookupError(f"reply {reply_id} is not in the store"))
        if reply.state is not ReplyState.QUEUED:
            record_final(ctx.store, reply)  # again: the job that made it final may have died before recording it
            record_reply(reply)
            return f"already {reply.state.value}"
        return _attempt(ctx, reply)
    finally:
        with contextlib.suppress(LockError):  # expired: the job ran past its timeout
            lease.release()


def _attempt(ctx: Context, reply: Reply) -> str:
    original = ctx.message(reply.message_id)
    if original is None:
        return _finish_failed(ctx, reply, None, f"permanent: message {reply.message_id} is not in the store")
    limit = ctx.settings.replies.max_send_attempts
    if reply.attempts >= limit:  # the last attempts never finished: their workers died mid-send
        _finish_failed(ctx, reply, original, f"gave up after {reply.attempts} attempts that never finished")
        fail_for_good(SendGaveUp(reply.error or ""))
    reply.attempts += 1
    ctx.store.save_reply(reply)  # counted before the provider call: an attempt a dying worker takes with it counts
    try:
        reply.provider_id = sender_for(reply.channel, ctx.settings, ctx.store).send(reply, original.envelope)
    except PermanentSendError as exc:
        return _finish_failed(ctx, reply, original, f"permanent: {exc}")
    except Exception as exc:  # TransientSendError, or what no sender foresaw: retried, then final
        if not isinstance(exc, TransientSendError):
            log.exception("sending %s raised %s; treated as transient", reply.id, type(exc).__name__)
        return _retry_or_fail(ctx, reply, original, exc)
    reply.state, reply.error = ReplyState.SENT, None

    def record_sent() -> None:
        ctx.store.save_reply(reply)
        record_final(ctx.store, reply, original)

    # The provider has it: a Redis restart now must not make it look unsent (a re-send would be a duplicate).
    _until_stored(record_sent, seconds=ctx.settings.workers.job_timeout_seconds / 2)
    record_reply(reply)
    return f"sent as {reply.provider_id}"


def _until_stored(write: Callable[[], None], seconds: float) -> None:
    """Run `write`, trying again with backoff for up to `seconds` while the store is unavailable (a restart)."""
    deadline, wait = time.monotonic() + seconds, 0.1
    while True:
        try:
            write()
            return
        except StoreUnavailable:
            if time.monotonic() + wait > deadline:
                raise
            log.warning("store unavailable after a send; trying again in %.1fs", wait)
            time.sleep(wait)
            wait = min(wait * 2, 2.0)


def _retry_or_fail(ctx: Context, reply: Reply, original: StoredMessage, exc: Exception) -> str:
    settings = ctx.settings.replies
    detail = str(exc) if isinstance(exc, SendError) else f"{type(exc).__name__}: {exc}"
    if reply.attempts >= settings.max_send_attempts:
        _finish_failed(ctx, reply, original, f"gave up after {reply.attempts} attempts: {detail}")
        fail_for_good(SendGaveUp(reply.error or ""))
    backoff = settings.retry_backoff_seconds
    retry_after = exc.retry_after if isinstance(exc, TransientSendError) else None
    delay = retry_after if retry_after is not None else backoff[min(reply.attempts - 1, len(backoff) - 1)]
    reply.error = f"attempt {reply.attempts} failed: {detail}; retrying in {delay:g}s"
    ctx.store.save_reply(reply)
    priority = original.decision.priority if original.decision else Priority.NORMAL
    enqueue_send(ctx, reply.id, priority, attempt=reply.attempts + 1, delay=delay)
    return reply.error


def _finish_failed(ctx: Context, reply: Reply, original: StoredMessage | None, error: str) -> str:
    reply.state, reply.error = ReplyState.FAILED, error
    ctx.store.save_reply(reply)
    record_final(ctx.store, reply, original)
    record_reply(reply)
    return error


def record_final(store: Store, reply: Reply, original: StoredMessage | None = None) -> None:
    """Record a final reply's outcome on its message (idempotent), then forget its in-flight entry."""
    if reply.state is ReplyState.FAILED:
        error = (reply.error or "").removeprefix("permanent: ")
        _record_send_outcome(store, reply.message_id, f"failed: {error}", reply.purpose)
    elif reply.state is not ReplyState.QUEUED:
        message_id = reply.headers.get("Message-ID")
        original = original or store.get_message(reply.message_id)
        conversation_id = original.conversation_id if original else None
        if message_id and conversation_id:
            store.remember_outbound_id(message_id, conversation_id)
        _record_send_outcome(store, reply.message_id, "sent", reply.purpose)
    inflight.clear(store, Kind.SEND, reply.id)


class SendGaveUp(Exception):
    """Raised out of the last attempt's job, so that RQ records the job as failed too (without retrying it)."""


def fail_for_good(exc: Exception) -> NoReturn:
    """Fail the running job with `exc`, without RQ's retries: what it failed on has been recorded already, or a
    retry cannot change it."""
    job = get_current_job()
    if job is not None:
        job.retries_left = 0
    raise exc


def _record_send_outcome(store: Store, message_id: str, status: str, purpose: str = "acknowledgement") -> None:
    """Record what became of a reply on its message: an acknowledgement's state goes in `ack_status`; an answer or a
    survey leaves a note, only when it failed. Recording the same outcome twice changes nothing."""
    if purpose != "acknowledgement" and not status.startswith("failed"):
        return
    note = f"{purpose} {status}"

    def change(m: StoredMessage) -> None:
        if purpose == "acknowledgement":
            m.ack_status = status
        elif note not in m.notes:
            m.notes.append(note)

    try:
        store.update_message(message_id, change)
    except KeyError:
        log.warning("reply outcome %r for message %s: the message is gone", status, message_id)


def notify_escalation(message_id: str, reason: str) -> str:
    """The default SLA breach notification: an email to `scheduler.notify_addresses`. A transient relay failure
    raises, so RQ's failed-job registry keeps it for a look; there is no customer waiting on this one."""
    ctx = current()
    addresses = ctx.settings.scheduler.notify_addresses
    message = ctx.message(message_id, warm=False)
    if not addresses:
        log.warning("SLA breach on %s (%s); no notify_addresses configured", message_id, reason)
        return "logged only: no notify_addresses"
    envelope = message.envelope if message else None
    decision = message.decision if message else None
    lines = [
        f"SLA breach: {reason}",
        "",
        f"Message:  {message_id}",
        f"From:     {envelope.sender.address if envelope else '?'} ({envelope.channel.value if envelope else '?'})",
        f"Subject:  {envelope.subject if envelope else ''}",
        f"Routed:   {decision.category}/{decision.queue}/{decision.priority.value}" if decision else "Routed:   -",
        "",
        (envelope.text[:2000] if envelope else ""),
        "",
        f"helpline explain {message_id}",
    ]
    subject = f"[SLA] {decision.queue if decision else ''} {message_id}: {reason[:80]}"
    send_notice(ctx.settings.email.outbound, addresses, subject, "\n".join(lines))
    return f"notified {', '.join(addresses)}"
