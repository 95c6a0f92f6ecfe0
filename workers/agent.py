"""The agents' side: take the next routed message, answer it, and follow up with a satisfaction survey.

An answer is a `Reply` with purpose `answer`, sent by the same `send_reply` job as acknowledgements, through the
channel the customer wrote from, so every channel's rules (threading, opt-outs, WhatsApp's window, retries) apply
to it unchanged. It is not an automatic message: no `Auto-Submitted` header and no auto-reply cap. The survey is
automatic and goes once per conversation, `replies.survey_delay_seconds` after the first answer.

An item's life (core/inbox.py): `take_next` makes it open, `resolve` closes it. Its first response (router/sla.py)
is the first answer an agent sends, not the take: an item taken but not answered is still waiting for its first
response, and the scheduler escalates it if that is late. Both times are stamped once, with a note saying how long
they took against the SLA target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.ids import new_id
from core.inbox import Inbox, Place
from core.language import reply_language
from core.record_queue import queue_sla_event
from core.records import Reply, StoredMessage
from core.store import JOB_RETRY
from router.sla import SlaKind, SlaPolicy
from templates import render
from workers.acknowledge import reference_for
from workers.context import Context, current
from workers.eta import record_take
from workers.jobs import queue_reply

SURVEY_JOB = "workers.agent.send_survey"


@dataclass(frozen=True)
class Assignment:
    message: StoredMessage
    agent: str


def take_next(ctx: Context, queue: str, agent: str) -> Assignment | None:
    """Give `agent` the most urgent, oldest message of `queue`: it is open until resolved, and counts toward the
    queue's throughput."""
    now = datetime.now(UTC)
    taken = Inbox(ctx.store).take(queue, agent, now)
    if taken is None:
        return None
    _, message_id = taken
    record_take(ctx.store, queue, now, message_id)
    ctx.message(message_id)  # its hot copy back from the record if it expired while it waited

    def assign(m: StoredMessage) -> None:
        m.notes.append(f"{now:%Y-%m-%d %H:%M} taken by {agent}")

    return Assignment(ctx.store.update_message(message_id, assign), agent)


def answer(ctx: Context, message_id: str, text: str, agent: str) -> Reply:
    """Queue an agent's answer to a stored message, and the conversation's survey after it."""
    message = ctx.message(message_id)
    if message is None:
        raise LookupError(f"no message {message_id}")
    if message.decision is None or message.conversation_id is None:
        raise ValueError(f"message {message_id} has not been routed yet")
    envelope = message.envelope
    subject = f"Re: {envelope.subject} [{reference_for(message)}]" if envelope.subject else ""
    language = reply_language(envelope.language, ctx.settings.replies.default_language)
    reply = Reply(
        id=new_id("r"), message_id=message.id, channel=envelope.channel, to=envelope.sender.address,
        purpose="answer", language=language, subject=subject, text=text.strip(), extras={"agent": agent},
    )  # fmt: skip
    queue = queue_reply(ctx, reply, message.decision.priority)
    _record_first_response(ctx, message, agent)
    delay = ctx.settings.replies.survey_delay_seconds
    # One survey per conversation: the first answer claims it (SET NX), later answers do not ask again.
    claimed = ctx.store.redis.set(ctx.store.key("survey", message.conversation_id), reply.id, nx=True)
    if delay > 0 and claimed:
        queue.enqueue_in(timedelta(seconds=delay), SURVEY_JOB, message.id, retry=JOB_RETRY)
    return reply


def _record_first_response(ctx: Context, message: StoredMessage, agent: str) -> None:
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


def _sla_result(ctx: Context, message: StoredMessage, kind: SlaKind, now: datetime) -> None:
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


def resolve(ctx: Context, message_id: str, agent: str) -> Resolution:
    """Mark a message resolved: it leaves the inbox (open, or still waiting when it needed no answer) for good, and
    its resolution time goes on its notes and on `hl:item:{message_id}`."""
    message = ctx.message(message_id)
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


def send_survey(message_id: str) -> str:
    """RQ job: render and queue the satisfaction survey for the conversation of `message_id`."""
    ctx = current()
    message = ctx.message(message_id)
    if message is None or message.decision is None:
        return "message gone"
    if message.envelope.no_auto_reply_reason:
        return f"not surveyed: {message.envelope.no_auto_reply_reason}"
    survey_id = f"r-survey-{message.id}"  # one per message: a retried job finds it instead of making a second
    if ctx.store.get_reply(survey_id) is not None:  # saved in the MULTI that queued its send: nothing more to do
        return f"survey {survey_id} already queued"
    envelope = message.envelope
    language = reply_language(envelope.language, ctx.settings.replies.default_language)
    rendered = render("survey", envelope.channel.value, language,
                      {"reference": reference_for(message), "name": envelope.sender.name or "",
                       "subject": envelope.subject, "signature": ctx.settings.email.outbound.sender_name})  # fmt: skip
    reply = Reply(
        id=survey_id, message_id=message.id, channel=envelope.channel, to=envelope.sender.address,
        purpose="survey", language=language, subject=rendered.subject, text=rendered.text,
    )  # fmt: skip
    queue_reply(ctx, reply, message.decision.priority)
    return f"survey {reply.id} queued"
