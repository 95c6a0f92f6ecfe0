"""The agents' side: take the next routed message, answer it, and follow up with a satisfaction survey.

An answer is a `Reply` with purpose `answer`, sent by the same `send_reply` job as acknowledgements, through the
channel the customer wrote from, so every channel's rules (threading, opt-outs, WhatsApp's window, retries) apply
to it unchanged. It is not an automatic message: no `Auto-Submitted` header and no auto-reply cap. The survey is
automatic and goes once per conversation, `replies.survey_delay_seconds` after the first answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.ids import new_id
from core.inbox import Inbox
from core.queues import queue_for
from core.records import Reply, StoredMessage
from templates import render
from workers.acknowledge import reference_for
from workers.context import Context
from workers.eta import record_completion
from workers.jobs import SEND_JOB

SURVEY_JOB = "workers.agent.send_survey"


@dataclass(frozen=True)
class Assignment:
    message: StoredMessage
    agent: str


def take_next(ctx: Context, queue: str, agent: str) -> Assignment | None:
    """Pop the most urgent, oldest message of `queue` for `agent`; it counts toward the queue's throughput."""
    taken = Inbox(ctx.store).take(queue)
    if taken is None:
        return None
    _, message_id = taken
    now = datetime.now(UTC)
    record_completion(ctx.store, queue, now, message_id)

    def assign(m: StoredMessage) -> None:
        m.notes.append(f"{now:%Y-%m-%d %H:%M} taken by {agent}")

    return Assignment(ctx.store.update_message(message_id, assign), agent)


def answer(ctx: Context, message_id: str, text: str, agent: str) -> Reply:
    """Queue an agent's answer to a stored message, and the conversation's survey after it."""
    message = ctx.store.get_message(message_id)
    if message is None:
        raise LookupError(f"no message {message_id}")
    if message.decision is None or message.conversation_id is None:
        raise ValueError(f"message {message_id} has not been routed yet")
    envelope = message.envelope
    subject = f"Re: {envelope.subject} [{reference_for(message)}]" if envelope.subject else ""
    reply = Reply(
        id=new_id("r"), message_id=message.id, channel=envelope.channel, to=envelope.sender.address,
        purpose="answer", language=envelope.language, subject=subject, text=text.strip(), extras={"agent": agent},
    )  # fmt: skip
    ctx.store.save_reply(reply)
    queue = queue_for(message.decision.priority, ctx.store)
    queue.enqueue_call(SEND_JOB, args=(reply.id,))
    delay = ctx.settings.replies.survey_delay_seconds
    # One survey per conversation: the first answer claims it (SET NX), later answers do not ask again.
    claimed = ctx.store.redis.set(ctx.store.key("survey", message.conversation_id), reply.id, nx=True)
    if delay > 0 and claimed:
        queue.enqueue_in(timedelta(seconds=delay), SURVEY_JOB, message.id)
    return reply


def send_survey(message_id: str) -> str:
    """RQ job: render and queue the satisfaction survey for the conversation of `message_id`."""
    from workers.context import current

    ctx = current()
    message = ctx.store.get_message(message_id)
    if message is None or message.decision is None:
        return "message gone"
    if message.envelope.no_auto_reply_reason:
        return f"not surveyed: {message.envelope.no_auto_reply_reason}"
    envelope = message.envelope
    rendered = render("survey", envelope.channel.value, envelope.language,
                      {"reference": reference_for(message), "name": envelope.sender.name or "",
                       "subject": envelope.subject, "signature": ctx.settings.email.outbound.sender_name})  # fmt: skip
    reply = Reply(
        id=new_id("r"), message_id=message.id, channel=envelope.channel, to=envelope.sender.address,
        purpose="survey", language=envelope.language, subject=rendered.subject, text=rendered.text,
    )  # fmt: skip
    ctx.store.save_reply(reply)
    queue_for(message.decision.priority, ctx.store).enqueue_call(SEND_JOB, args=(reply.id,))
    return f"survey {reply.id} queued"
