"""Agents' work: take the next routed message, answer it, resolve it.

An answer is a `Reply` with purpose `answer`, sent by the same `send_reply` job as acknowledgements, through the
channel the customer wrote from, so every channel's rules (threading, opt-outs, WhatsApp's window, retries) apply
to it unchanged. It is not an automatic message: no `Auto-Submitted` header and no auto-reply cap. The survey is
automatic and goes once per conversation, `replies.survey_delay_seconds` after the first answer (its job is
`workers.agent.send_survey`, queued by name).

An item's life (core/inbox.py): `take_next` makes it open, `resolve` closes it. Its first response (router/sla.py)
is the first answer an agent sends, not the take.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.ids import conversation_reference, new_id
from core.inbox import Inbox, Place
from core.language import reply_language
from core.record_queue import queue_sla_event
from core.records import Reply, StoredMessage
from core.sending import queue_reply
from core.store import JOB_RETRY
from core.throughput import record_take
from desk.context import HasDesk
from router.sla import SlaKind, SlaPolicy

SURVEY_JOB = "workers.agent.send_survey"


@dataclass(frozen=True)
class Assignment:
    message: StoredMessage
    agent: str


def take_next(ctx: HasDesk, queue: str, agent: str) -> Assignment | None:
    """Give `agent` the most urgent, oldest message of `queue`: it is open until resolved, and counts toward the
    queue's throughput."""
    now = datetime.now(UTC)
    taken = Inbox(ctx.store).take(queue, agent, now)
    if taken is None:
        return None
    _, message_id = taken
    record_take(ctx.store, queue, now, message_id)

    def assign(m: StoredMessage) -> None:
        m.notes.append(f"{now:%Y-%m-%d %H:%M} taken by {agent}")

    return Assignment(ctx.store.update_message(message_id, assign), agent)


def answer(ctx: HasDesk, message_id: str, text: str, agent: str) -> Reply:
    """Queue an agent's answer to a stored message, and the conversation's survey after it."""
    message = ctx.store.get_message(message_id)
    if message is None:
        raise LookupError(f"no message {message_id}")
    if message.decision is None or message.conversation_id is None:
        raise ValueError(f"message {message_id} has not been routed yet")
    envelope = message.envelope
    subject = f"Re: {envelope.subject} [{conversation_reference(message.conversation_id)}]" if envelope.subject else ""
    language = reply_language(envelope.language, ctx.settings.replies.default_language)
    reply = Reply(
        id=new_id("r"), message_id=message.id, channel=envelope.channel, to=envelope.sender.address,
        purpose="answer", language=language, subject=subject, text=text.strip(), extras={"agent": agent},
    )  # fmt: skip
    queue = queue_reply(ctx.store, reply, message.decision.priority)
    _record_first_response(ctx, message, agent)
    delay = ctx.settings.replies.survey_delay_seconds
    # One survey per conversation: the first answer claims it (SET NX), later answers do not ask again.
    claimed = ctx.store.redis.set(ctx.store.key("survey", message.conversation_id), reply.id, nx=True)
    if delay > 0 and claimed:
        queue.enqueue_in(timedelta(seconds=delay), SURVEY_JOB, message.id, retry=JOB_RETRY)
    return reply


def _record_first_response(ctx: HasDesk, message: StoredMessage, agent: str) -> None:
    now = datetime.now(UTC)
    if message.decision is None or not Inbox(ctx.store).record_first_response(message.id, now, agent):
        return  # answered before: the first response was stamped then
    d = message.decision
    took = SlaPolicy.from_settings(ctx.settings).outcome(
        SlaKind.FIRST_RESPONSE, d.category, d.priority, d.queue, message.envelope.received_at, now
    )
    ctx.store.update_message(
        message.id, lambda m: m.notes.append(f"{now:%Y-%m-%d %H:%M} first response by {agent} {took}")
    )
    _sla_result(ctx, message, SlaKind.FIRST_RESPONSE, now)


def _sla_result(ctx: HasDesk, message: StoredMessage, kind: SlaKind, now: datetime) -> None:
    """The response or resolution happened: its SLA result goes to the record as it stands now (met or breached)."""
    d = message.decision
    assert d is not None
    status = SlaPolicy.from_settings(ctx.settings).status(
        d.category, d.priority, d.queue, message.envelope.received_at, now, kind
    )
    result = "breached" if status.breached else "met"
    queue_sla_event(ctx.store, message.id, f"{kind.value}_{result}", now, status.due, happened=True)


@dataclass(frozen=True)
class Resolution:
    message_id: str
    queue: str
    was: Place
    at: datetime
    outcome: str  # "after 2h05m of business time (resolution target 8h00m: met)"


def resolve(ctx: HasDesk, message_id: str, agent: str) -> Resolution:
    """Mark a message resolved: it leaves the inbox (open, or still waiting when it needed no answer) for good, and
    its resolution time goes on its notes and on `hl:item:{message_id}`."""
    message = ctx.store.get_message(message_id)
    if message is None:
        raise LookupError(f"no message {message_id}")
    if message.decision is None:
        raise ValueError(f"message {message_id} has not been routed yet")
    inbox = Inbox(ctx.store)
    now = datetime.now(UTC)
    done = inbox.resolve(message_id, agent, now)
    if done is None:
        times = inbox.times(message_id)
        if times.resolved_at is not None:
            when = f"{times.resolved_at:%Y-%m-%d %H:%M}"
            raise ValueError(f"message {message_id} was already resolved by {times.resolved_by} at {when}")
        raise ValueError(f"message {message_id} is neither waiting nor open")
    d = message.decision
    took = SlaPolicy.from_settings(ctx.settings).outcome(
        SlaKind.RESOLUTION, d.category, d.priority, d.queue, message.envelope.received_at, now
    )
    how = "" if done.was is Place.OPEN else " (never taken)"
    _sla_result(ctx, message, SlaKind.RESOLUTION, now)
    ctx.store.update_message(
        message_id, lambda m: m.notes.append(f"{now:%Y-%m-%d %H:%M} resolved by {agent}{how} {took}")
    )
    return Resolution(message_id, done.queue, done.was, now, took)
