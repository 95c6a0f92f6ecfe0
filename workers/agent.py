"""RQ job entry points of the agents' side; the agents' logic itself is in desk/ (desk/cases.py)."""

from __future__ import annotations

from core.language import reply_language
from core.records import Reply
from templates import render
from workers.acknowledge import reference_for
from workers.context import current
from workers.jobs import queue_reply


def send_survey(message_id: str) -> str:
    """RQ job: render and queue the satisfaction survey for the conversation of `message_id`."""
    ctx = current()
    message = ctx.store.get_message(message_id)
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
