"""RQ job functions. They take ids only: the message itself is in the store, never in the job payload."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from jinja2 import TemplateError
from redis.client import Pipeline
from redis.exceptions import LockError
from rq import get_current_job

from channels.email import send_notice
from core import inflight, sending
from core.envelope import Priority
from core.errors import PermanentSendError, SendError, StoreUnavailable, TransientSendError
from core.ids import new_id
from core.inflight import Kind
from core.queues import reply_queue
from core.record_queue import queue_replies, wait_for_record
from core.records import MessageState, Reply, ReplyState, StoredMessage
from core.sending import SEND_JOB as SEND_JOB  # re-exported: the reconciler names the job by it
from core.sending import send_job_id as send_job_id
from core.store import Store, store_errors
from workers import acknowledge
from workers.context import Context, current
from workers.pipeline import Drop, Work, run_pipeline
from workers.record_step import record_dropped
from workers.record_updates import PAUSED, RecordUnreachable, pause_process, retry_process_later, with_record
from workers.send_failures import report_send_failure

log = logging.getLogger("helpline.jobs")


def process_message(message_id: str) -> str:
    """Run the pipeline on a stored message, then send its acknowledgement: one RQ job per message.

    Safe to run again after a crash at any point (RQ retries it, the reconciler queues it again when its worker
    died): every step is idempotent (the conversation a message joined is recorded with it, filing is ZADD NX, the
    acknowledgement has a fixed id per message), and a message routed before the crash still gets its
    acknowledgement planned. Its in-flight entry (core/inflight.py) is cleared only once all that is done.

    The acknowledgement is sent by this job, not a second one (RQ's own bookkeeping per job costs as much as the
    pipeline): it is saved with its own in-flight entry, under the id its send job would have (`send-{reply id}` on
    its reply queue), in the MULTI that records the message as routed. A worker dying between that MULTI and the
    send leaves the entry with no job behind it, which the reconciler queues as a `send_reply` job: the send is
    recovered exactly once (the lease and the reply's state keep it to one), and its retries are jobs of their own.

    Then, under a backlog, the job runs the pipeline jobs queued behind it itself (`_run_queued`).
    """
    ctx = current()
    outcome = _run_pipeline_job(ctx, message_id, ctx.store.get_message(message_id))
    if outcome == PAUSED:
        return outcome
    taken = _run_queued(ctx)
    return f"{outcome}; and {taken} queued message(s) after it" if taken else outcome


# A pipeline job runs the pipeline jobs queued behind it for up to this long (and at most `TAKE_AT_MOST` of them).
TAKE_FOR_SECONDS = 1.0
TAKE_AT_MOST = 50


def _run_queued(ctx: Context) -> int:
    """Run the pipeline jobs waiting in the inbound queue in this job, oldest first, for up to `TAKE_FOR_SECONDS`:
    RQ's bookkeeping for a job (the dequeue, two MULTIs to start it, a watched MULTI to end it, the worker's state)
    costs a fifth of what the pipeline does, and under a backlog it would be paid for every message.

    A job taken this way is the same work with the same guarantees: its message's in-flight entry names this job
    from the moment it is taken (`Store.take_queued_message`, one script), so if this worker dies the reconciler
    queues the message again under its own job id (workers/reconcile.py). One that fails is queued on its own, to
    be retried as RQ would have; a paused one (the record away) pauses, and this job stops taking more. Taking them
    in queue order keeps a sender's messages in arrival order (workers/ordering.py): whatever a taken message waits
    for was taken, by this worker or another, before it. The inbound queue comes first for every worker anyway
    (core/queues.py), so replies wait no longer than they would behind RQ's own dequeues of it."""
    job = get_current_job()
    if job is None:
        return 0
    deadline = time.monotonic() + min(TAKE_FOR_SECONDS, ctx.settings.workers.job_timeout_seconds / 4)
    taken = 0
    while taken < TAKE_AT_MOST and time.monotonic() < deadline:
        try:
            next_in_queue = ctx.store.take_queued_message(job.id)
        except StoreUnavailable:  # this job's own message is done: the rest waits in the queue for Redis
            break
        if next_in_queue is None:
            break
        message_id, message = next_in_queue
        taken += 1
        try:
            outcome = _run_pipeline_job(ctx, message_id, message, taken=True)
        except Exception as exc:  # this message's failure, not the job's: it is retried on its own
            log.exception("pipeline for %s (taken from the queue) raised %s", message_id, type(exc).__name__)
            retry_process_later(ctx, message_id)
            continue
        log.info("%s (taken from the queue): %s", message_id, outcome)
        if outcome == PAUSED:
            break
    return taken


def _run_pipeline_job(ctx: Context, message_id: str, message: StoredMessage | None, *, taken: bool = False) -> str:
    """One message's pipeline job (`process_message`) on the message as stored (None: gone); `taken`: run by
    another pipeline job (`_run_queued`)."""
    if message is None:
        inflight.clear(ctx.store, Kind.PROCESS, message_id)
        if taken:
            return "its message is not in the store"
        fail_for_good(LookupError(f"message {message_id} is not in the store"))
    try:
        outcome, plan, written = with_record(ctx.record, lambda: _process(ctx, message))
    except RecordUnreachable:  # waits for the record without spending an RQ retry (workers/record_updates.py)
        return pause_process(ctx, message_id)
    if plan is None:
        inflight.clear(ctx.store, Kind.PROCESS, message_id)
        return outcome
    # A plan written clears the message's in-flight entry in its MULTI (the message's work is done); the reply's own
    # entry stands for the send from there on.
    return outcome if plan.send is None else f"{outcome}; acknowledgement {_send_now(ctx, plan, written)}"


def _process(ctx: Context, message: StoredMessage) -> tuple[str, AckPlan | None, StoredMessage]:
    """The pipeline and the acknowledgement's plan; returns the outcome, the plan when one was written, and the
    message as written (the send reads its envelope: no need to read it back from the store)."""
    message_id = message.id
    if message.state is MessageState.RECEIVED:
        outcome = run_pipeline(Work(message), ctx)
        if isinstance(outcome, Drop):

            def dropped(m: StoredMessage) -> None:
                m.state, m.drop_reason = MessageState.DROPPED, outcome.reason

            message = ctx.store.update_message(message_id, dropped)
            record_dropped(message, ctx)
            log.info("dropped %s: %s", message_id, outcome.reason)
            return f"dropped: {outcome.reason}", None, message

        recorded = outcome.recorded

        def routed(m: StoredMessage) -> None:
            m.state = MessageState.ROUTED
            m.contact_id, m.conversation_id, m.decision = outcome.contact_id, outcome.conversation_id, outcome.decision
            m.envelope.extras.update(outcome.envelope.extras)
            m.notes += outcome.notes
            if recorded is not None:  # attachments' content now in the attachment store, not the hot copy
                recorded.change(m)

        # The acknowledgement is planned on the routed message before it is written, so that the message, its
        # acknowledgement's state, the reply and the reply's in-flight entry, and the expiries of its hot copies
        # are one write (one fsync), not five.
        planned = StoredMessage.model_validate_json(message.model_dump_json())  # a copy: cheaper than a deep copy
        routed(planned)
        plan = plan_acknowledgement(planned, new=True)

        def routed_and_planned(m: StoredMessage) -> None:
            routed(m)
            plan.change(m)

        def writes(pipe: Pipeline, m: StoredMessage) -> None:
            plan.writes(pipe, m)
            if recorded is not None:
                recorded.retain(ctx, m, pipe)

        message = ctx.store.update_message(message_id, routed_and_planned, also=writes)
        return _routed_outcome(message), plan, message
    if message.state is MessageState.DROPPED:
        record_dropped(message, ctx)  # a re-run after a crash between the two writes; recording twice is a no-op
    if message.state is not MessageState.ROUTED:
        return f"already {message.state.value}", None, message
    if message.ack_status not in (None, "queued"):  # "queued" too: a crash may have come before the send was planned
        return _routed_outcome(message), None, message
    plan = plan_acknowledgement(message)
    if plan.status is None and plan.new_reply is None and plan.send is None:
        return _routed_outcome(message), None, message
    message = ctx.store.update_message(message_id, plan.change, also=plan.writes)
    return _routed_outcome(message), plan, message


def _routed_outcome(message: StoredMessage) -> str:
    assert message.decision is not None
    return f"routed to {message.decision.queue}/{message.decision.priority.value}"


@dataclass
class AckPlan:
    """What becomes of a routed message's acknowledgement, written with the message in one MULTI (`writes`): its
    `ack_status`, a new reply to save, and the reply to send now (its in-flight entry written with it).

    A new reply to send now is saved with its first attempt counted and its send lease taken (`lease`), in that
    MULTI: this job sends it next, and no other job can have seen it yet, so the three writes and the read a send
    otherwise starts with (lease, read the reply, count the attempt) are not needed. A worker dying before the send
    leaves the lease to expire (`workers.job_timeout_seconds`, shorter than the reconciler's abandoned-job window)
    and the counted attempt, as when it dies during a send."""

    message_id: str
    priority: Priority
    status: str | None = None
    new_reply: Reply | None = None
    send: str | None = None
    lease: str | None = None

    def change(self, message: StoredMessage) -> None:
        if self.status is not None:
            message.ack_status = self.status

    def writes(self, pipe: Pipeline, message: StoredMessage) -> None:
        ctx = current()
        store = ctx.store
        if self.new_reply is not None:
            store.save_new_reply(self.new_reply, pipe)
        if self.lease is not None:
            pipe.set(self.lease, new_id("lease"), px=ctx.settings.workers.job_timeout_seconds * 1000)
        if self.send is not None:
            queue = reply_queue(self.priority, store)
            inflight.track(pipe, store, Kind.SEND, self.send, queue.name, send_job_id(self.send, 1), time.time())
        # Planned: the message's own work is done (a crash from here on is the reply's entry's to recover).
        inflight.clear(store, Kind.PROCESS, self.message_id, pipe)


def plan_acknowledgement(message: StoredMessage, *, new: bool = False) -> AckPlan:
    """Whether and what to acknowledge (a message routed, or found routed again on a re-run). `new`: the message is
    being routed now, so it has no acknowledgement yet (one is only ever saved in the MULTI that routes it)."""
    ctx = current()
    assert message.decision is not None
    plan = AckPlan(message.id, message.decision.priority)
    reply = None if new else ctx.store.get_reply(acknowledge.acknowledgement_id(message))
    if reply is None:
        reason = acknowledge.skip_reason(message, ctx)
        if reason is None and not acknowledge.take_cap_slot(message, ctx):
            reason = "auto-reply cap reached (contact, thread or repeated text: workers/reply_caps.py)"
        if reason is not None:
            plan.status = f"suppressed: {reason}"
            return plan
        try:
            reply = acknowledge.build_acknowledgement(message, ctx)
        except TemplateError as exc:  # a retry cannot fix a template: record it where operators look
            log.error("acknowledgement for %s not rendered: %s", message.id, exc)
            plan.status = f"failed: template {exc}"
            return plan
        reply.attempts = 1  # counted before the provider call, as every attempt is (`_attempt`)
        plan.new_reply, plan.lease = reply, send_lease_key(ctx.store, reply.id)
    elif reply.state is not ReplyState.QUEUED:
        return plan  # sent or failed already, and its outcome recorded: nothing to send again
    elif inflight.is_tracked(ctx.store, Kind.SEND, reply.id):
        return plan  # a re-run after the send was planned: its entry is how it is recovered, not this job
    # Recorded with the reply: the send's own outcome must come after it.
    plan.status, plan.send = "queued", reply.id
    return plan


def _send_now(ctx: Context, plan: AckPlan, message: StoredMessage) -> str:
    """Send a just-planned reply to `message` in this job; its retries, if any, are jobs of their own
    (`send_reply`). A new reply comes with its lease taken and its attempt counted (`AckPlan`)."""
    assert plan.send is not None
    try:
        if plan.new_reply is None or plan.lease is None:
            return _send_leased(ctx, plan.send, message)
        return _send_new(ctx, plan.new_reply, message, plan.lease)
    except SendGaveUp as exc:  # recorded on the reply and the message; the pipeline job itself did not fail
        return f"failed: {exc}"


def _send_new(ctx: Context, reply: Reply, message: StoredMessage, lease: str) -> str:
    """Send a reply saved with its lease and first attempt in the MULTI that planned it. Sent, the lease goes in the
    MULTI that records it; any other way out lets go of it at once, so that a retry job need not wait for it."""
    sent = False
    try:
        outcome = _attempt(ctx, reply, message, lease=lease)
        sent = reply.state is ReplyState.SENT
        return outcome
    finally:
        if not sent:
            with contextlib.suppress(StoreUnavailable), store_errors():
                ctx.store.redis.delete(lease)


def send_lease_key(store: Store, reply_id: str) -> str:
    """The key of a reply's send lease: only the job holding it may send the reply."""
    return store.key("sendlease", reply_id)


def send_reply(reply_id: str) -> str:
    """Send one reply through its channel. Every way it can end is recorded on the reply and its message: sent;
    failed for good (the provider can never take it); or failed for now (a transient error, or anything a sender did
    not foresee), tried again with backoff until `replies.max_send_attempts`, then failed for good. Failed for good
    is counted, logged, flagged on the case (workers/send_failures.py), and the job ends failed with it. Only one
    job at a time may send a given reply (a lease held for at most a job's timeout)."""
    return _send_leased(current(), reply_id)


def _send_leased(ctx: Context, reply_id: str, message: StoredMessage | None = None) -> str:
    """Send under the reply's lease; `message` is the reply's message when the caller has it just written."""
    lease = ctx.store.redis.lock(
        send_lease_key(ctx.store, reply_id), timeout=ctx.settings.workers.job_timeout_seconds, blocking=False
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
            return f"already {reply.state.value}"
        return _attempt(ctx, reply, message if message is not None and message.id == reply.message_id else None)
    finally:
        with contextlib.suppress(LockError):  # expired: the job ran past its timeout
            lease.release()


def _attempt(ctx: Context, reply: Reply, message: StoredMessage | None = None, *, lease: str | None = None) -> str:
    """One attempt at sending `reply`. With `lease`, a new reply whose first attempt is counted and whose lease is
    held already (`AckPlan`): the lease goes in the MULTI that records it sent."""
    original = message or ctx.message(reply.message_id)
    if original is None:
        _finish_failed(ctx, reply, None, f"permanent: message {reply.message_id} is not in the store")
        fail_for_good(SendGaveUp(reply.error or ""))
    if lease is None:
        limit = ctx.settings.replies.max_send_attempts
        if reply.attempts >= limit:  # the last attempts never finished: their workers died mid-send
            _finish_failed(ctx, reply, original, f"gave up after {reply.attempts} attempts that never finished")
            fail_for_good(SendGaveUp(reply.error or ""))
        reply.attempts += 1
        ctx.store.save_reply(reply)  # counted before the provider call: an attempt a dying worker takes with it counts
    try:
        reply.provider_id = ctx.sender(reply.channel).send(reply, original.envelope)
    except PermanentSendError as exc:
        _finish_failed(ctx, reply, original, f"permanent: {exc}")
        fail_for_good(SendGaveUp(reply.error or ""))  # no retry can help: the job ends failed at once
    except Exception as exc:  # TransientSendError, or what no sender foresaw: retried, then final
        if not isinstance(exc, TransientSendError):
            log.exception("sending %s raised %s; treated as transient", reply.id, type(exc).__name__)
        return _retry_or_fail(ctx, reply, original, exc)
    reply.state, reply.error = ReplyState.SENT, None

    def record_sent() -> None:
        record_final(ctx.store, reply, original, save=True, lease=lease)

    # The provider has it: a Redis restart now must not make it look unsent (a re-send would be a duplicate).
    _until_stored(record_sent, seconds=ctx.settings.workers.job_timeout_seconds / 2)
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
    sending.enqueue_send(ctx.store, reply.id, priority, attempt=reply.attempts + 1, delay=delay)
    return reply.error


def _finish_failed(ctx: Context, reply: Reply, original: StoredMessage | None, error: str) -> None:
    reply.state, reply.error = ReplyState.FAILED, error
    record_final(ctx.store, reply, original, save=True)
    report_send_failure(ctx, reply, original)


def record_final(
    store: Store, reply: Reply, original: StoredMessage | None = None, *, save: bool = False, lease: str | None = None
) -> None:
    """Record a final reply's outcome on its message (idempotent), then forget its in-flight entry; with `save`,
    the reply itself too, and with `lease`, let go of its send lease. One MULTI for all of it when the message is
    there: each write waits for an fsync."""
    if reply.state is ReplyState.QUEUED:
        if save:
            store.save_reply(reply)
        inflight.clear(store, Kind.SEND, reply.id)
        return
    outbound_id: tuple[str, str] | None = None
    if reply.state is ReplyState.FAILED:
        error = (reply.error or "").removeprefix("permanent: ")
        status = f"failed: {error}"
    else:
        message_id = reply.headers.get("Message-ID")
        original = original or store.get_message(reply.message_id)
        conversation_id = original.conversation_id if original else None
        if message_id and conversation_id:
            outbound_id = (message_id, conversation_id)
        status = "sent"

    def writes(pipe: Pipeline, _: StoredMessage | None = None) -> None:
        if save:
            store.save_reply(reply, pipe)
        if outbound_id is not None:
            store.remember_outbound_id(*outbound_id, pipe)
        inflight.clear(store, Kind.SEND, reply.id, pipe)
        wait_for_record(store, reply.id, pipe)  # the record takes it in a job for many
        if lease is not None:
            pipe.delete(lease)

    if not _record_send_outcome(store, reply.message_id, status, reply.purpose, also=writes):
        with store_errors(), store.redis.pipeline() as pipe:  # no message to record it on: the rest alone
            writes(pipe)
            pipe.execute()
    queue_replies(store)  # the job that records the replies waiting, unless one is queued
    if save:
        store.apply_early_statuses(reply)


class SendGaveUp(Exception):
    """Raised out of the job that made a reply failed for good (its last attempt, or a permanent failure), so that
    RQ records the job as failed too (without retrying it)."""


def fail_for_good(exc: Exception) -> NoReturn:
    """Fail the running job with `exc`, without RQ's retries: what it failed on has been recorded already, or a
    retry cannot change it."""
    job = get_current_job()
    if job is not None:
        job.retries_left = 0
    raise exc


def _record_send_outcome(
    store: Store,
    message_id: str,
    status: str,
    purpose: str = "acknowledgement",
    *,
    also: Callable[[Pipeline, StoredMessage], None] | None = None,
) -> bool:
    """Record what became of a reply on its message: an acknowledgement's state goes in `ack_status`; an answer or a
    survey leaves a note, only when it failed. Recording the same outcome twice changes nothing. `also` adds writes
    to the same MULTI. False when the message is gone (nothing written)."""
    note = f"{purpose} {status}"

    def change(m: StoredMessage) -> None:
        if purpose == "acknowledgement":
            m.ack_status = status
        elif status.startswith("failed") and note not in m.notes:
            m.notes.append(note)

    try:
        store.update_message(message_id, change, also=also)
    except KeyError:
        log.warning("reply outcome %r for message %s: the message is gone", status, message_id)
        return False
    return True


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
