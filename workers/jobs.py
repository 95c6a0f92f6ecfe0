"""RQ job functions. They take ids only: the message itself is in the store, never in the job payload."""

from __future__ import annotations

import logging
from datetime import timedelta

from jinja2 import TemplateError
from rq import Queue

from channels.email import send_notice
from channels.registry import sender_for
from core.envelope import Priority
from core.errors import PermanentSendError, TransientSendError
from core.queues import reply_queue
from core.records import MessageState, Reply, ReplyState, StoredMessage
from workers import acknowledge
from workers.context import Context, current
from workers.pipeline import Drop, Work, run_pipeline
from workers.record_step import record_dropped

log = logging.getLogger("helpline.jobs")

SEND_JOB = "workers.jobs.send_reply"
PENDING_TTL_SECONDS = 7 * 86400  # longer than any retry schedule; only a safety net


def process_message(message_id: str) -> str:
    """Run the pipeline on a stored message, then queue its acknowledgement.

    Safe to run again after a crash at any point (RQ retries it): every step is idempotent (the conversation a
    message joined is recorded with it, filing is ZADD NX, the acknowledgement has a fixed id per message), and a
    message routed before the crash still gets its acknowledgement planned.
    """
    ctx = current()
    message = ctx.store.get_message(message_id)
    if message is None:
        raise LookupError(f"message {message_id} is not in the store")
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
            _record_send_outcome(message.id, f"suppressed: {reason}")
            return
        try:
            reply = acknowledge.build_acknowledgement(message, ctx)
        except TemplateError as exc:  # a retry cannot fix a template: record it where operators look
            log.error("acknowledgement for %s not rendered: %s", message.id, exc)
            _record_send_outcome(message.id, f"failed: template {exc}")
            return
        ctx.store.save_reply(reply)
    elif reply.state is not ReplyState.QUEUED:
        return  # sent or failed already, and its outcome recorded: nothing to queue again
    elif _send_job_pending(ctx, reply.id):
        return  # a re-run after the job was queued: a second job would let two workers send it twice
    _record_send_outcome(message.id, "queued")  # before the job is queued: the job's own outcome must come after it
    assert message.decision is not None
    _enqueue_send(ctx, reply.id, message.decision.priority)


def queue_reply(ctx: Context, reply: Reply, priority: Priority) -> Queue:
    """Save a new `reply` and queue its sending (`send_reply`) on the reply queue of `priority`; returns that queue."""
    ctx.store.save_reply(reply)
    return _enqueue_send(ctx, reply.id, priority)


def _enqueue_send(ctx: Context, reply_id: str, priority: Priority) -> Queue:
    """Queue the send job and mark the reply's sending pending, in one MULTI: never one without the other."""
    queue = reply_queue(priority, ctx.store)
    with ctx.store.redis.pipeline() as pipe:
        pipe.multi()  # explicitly first: RQ adds its own MULTI to a pipeline that has none yet
        pipe.set(_pending_key(ctx, reply_id), "1", ex=PENDING_TTL_SECONDS)
        queue.enqueue_call(SEND_JOB, args=(reply_id,), job_id=f"send-{reply_id}", pipeline=pipe)
        pipe.execute()
    return queue


def _send_job_pending(ctx: Context, reply_id: str) -> bool:
    """Whether the reply's sending is queued, running, or waiting for a retry (cleared when it is sent or fails)."""
    return bool(ctx.store.redis.exists(_pending_key(ctx, reply_id)))


def _pending_key(ctx: Context, reply_id: str) -> str:
    return ctx.store.key("sendpending", reply_id)


def send_reply(reply_id: str) -> str:
    """Send one reply through its channel; transient failures come back later with backoff, permanent ones stop."""
    ctx = current()
    reply = ctx.store.get_reply(reply_id)
    if reply is None:
        raise LookupError(f"reply {reply_id} is not in the store")
    if reply.state is not ReplyState.QUEUED:
        return f"already {reply.state.value}"
    original = ctx.store.get_message(reply.message_id)
    assert original is not None
    reply.attempts += 1
    try:
        reply.provider_id = sender_for(reply.channel, ctx.settings, ctx.store).send(reply, original.envelope)
    except TransientSendError as exc:
        return _retry_or_fail(reply_id, reply, original, exc)
    except PermanentSendError as exc:
        reply.state, reply.error = ReplyState.FAILED, f"permanent: {exc}"
        ctx.store.save_reply(reply)
        _record_send_outcome(original.id, f"failed: {exc}", reply.purpose)
        return reply.error
    reply.state, reply.error = ReplyState.SENT, None
    ctx.store.save_reply(reply)
    if reply.headers.get("Message-ID") and original.conversation_id:
        ctx.store.remember_outbound_id(reply.headers["Message-ID"], original.conversation_id)
    _record_send_outcome(original.id, "sent", reply.purpose)
    return f"sent as {reply.provider_id}"


def _retry_or_fail(reply_id: str, reply: Reply, original: StoredMessage, exc: TransientSendError) -> str:
    ctx = current()
    settings = ctx.settings.replies
    if reply.attempts >= settings.max_send_attempts:
        reply.state, reply.error = ReplyState.FAILED, f"gave up after {reply.attempts} attempts: {exc}"
        ctx.store.save_reply(reply)
        _record_send_outcome(original.id, f"failed: {reply.error}", reply.purpose)
        return reply.error
    backoff = settings.retry_backoff_seconds
    delay = exc.retry_after if exc.retry_after is not None else backoff[min(reply.attempts - 1, len(backoff) - 1)]
    reply.error = f"attempt {reply.attempts} failed: {exc}; retrying in {delay:g}s"
    ctx.store.save_reply(reply)
    assert original.decision is not None
    queue = reply_queue(original.decision.priority, ctx.store)
    if delay <= 0:
        queue.enqueue_call(SEND_JOB, args=(reply_id,))
    else:
        queue.enqueue_in(timedelta(seconds=delay), SEND_JOB, reply_id)
    return reply.error


def _record_send_outcome(message_id: str, status: str, purpose: str = "acknowledgement") -> None:
    """Record what became of a reply on its message: an acknowledgement's state goes in `ack_status`; an answer or a
    survey leaves a note, only when it failed."""
    if purpose != "acknowledgement" and not status.startswith("failed"):
        return

    def change(m: StoredMessage) -> None:
        if purpose == "acknowledgement":
            m.ack_status = status
        else:
            m.notes.append(f"{purpose} {status}")

    current().store.update_message(message_id, change)


def notify_escalation(message_id: str, reason: str) -> str:
    """The default SLA breach notification: an email to `scheduler.notify_addresses`. A transient relay failure
    raises, so RQ's failed-job registry keeps it for a look; there is no customer waiting on this one."""
    ctx = current()
    addresses = ctx.settings.scheduler.notify_addresses
    message = ctx.store.get_message(message_id)
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
