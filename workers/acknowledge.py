"""Whether a routed message gets an automatic acknowledgement, and what it says.

The checks run in the order an operator would ask them: is acknowledging on at all, is this message one that must
never be answered automatically (auto-replies, bounces, list mail, STOP keywords), did a rule suppress it, and has
this contact, this thread or this repeated text already had its share of auto-replies in the window (the cap applies
on every channel; it is what breaks a loop with another robot that slipped past the header checks, even one that
answers from a new address each time: workers/reply_caps.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.envelope import Channel
from core.ids import conversation_reference
from core.inbox import Filed
from core.language import reply_language
from core.notices import active_notices
from core.records import Reply, StoredMessage
from core.subjects import bare_subject
from router.details import labels
from templates import render
from workers.context import Context
from workers.eta import expected_response
from workers.reply_caps import cap_counters

# A follow-up in an open or pending case gets no second acknowledgement; on these channels, where silence reads as
# a lost message, a one-line "added to your case" instead (templates/added). Email threads show the customer their
# own mail; a voicemail's acknowledgement is an SMS the caller did not ask for.
ADDED_NOTE_CHANNELS = frozenset({Channel.SMS, Channel.WHATSAPP, Channel.TELEGRAM})


def is_follow_up(message: StoredMessage) -> bool:
    """The message joined a case that was already open or pending (core/inbox.py's `follow-up` or `back`)."""
    return message.envelope.extras.get("case") in (Filed.FOLLOW_UP.value, Filed.BACK.value)


def skip_reason(message: StoredMessage, ctx: Context) -> str | None:
    if not ctx.settings.replies.acknowledge:
        return "acknowledgements are turned off"
    reason = message.envelope.no_auto_reply_reason
    if reason:
        return reason
    if message.decision is not None and message.decision.suppress_ack:
        return "suppressed by a routing rule"
    if is_follow_up(message) and message.envelope.channel not in ADDED_NOTE_CHANNELS:
        return "a follow-up in an open case: acknowledged once already"
    return None


def take_cap_slot(message: StoredMessage, ctx: Context) -> bool:
    """One auto-reply counted against the contact, the thread and the repeated text (workers/reply_caps.py)."""
    replies = ctx.settings.replies
    return ctx.store.take_auto_reply_slot(
        cap_counters(message, ctx.store), replies.auto_reply_limit, replies.auto_reply_window_seconds
    )


def build_acknowledgement(message: StoredMessage, ctx: Context) -> Reply:
    envelope = message.envelope
    decision = message.decision
    assert decision is not None and message.conversation_id is not None
    language = reply_language(envelope.language, ctx.settings.replies.default_language)
    template = "added" if is_follow_up(message) else decision.template
    rendered = render(template, envelope.channel.value, language, ack_context(message, ctx, language))
    return Reply(
        id=acknowledgement_id(message),
        message_id=message.id,
        channel=envelope.channel,
        to=envelope.sender.address,
        purpose=decision.template,
        language=language,
        subject=rendered.subject,
        text=rendered.text,
    )


def acknowledgement_id(message: StoredMessage) -> str:
    """One acknowledgement per message, whatever happens: a re-run of the job finds it instead of making another."""
    return f"r-ack-{message.id}"


def ack_context(message: StoredMessage, ctx: Context, language: str) -> dict[str, Any]:
    envelope = message.envelope
    decision = message.decision
    assert decision is not None
    now = datetime.now(UTC)
    eta = expected_response(
        ctx.settings, ctx.store, decision.queue, decision.priority, now, category=decision.category,
        calendar=ctx.calendar,
    )  # fmt: skip
    return {
        "reference": reference_for(message),
        "subject": bare_subject(envelope.subject),
        "name": envelope.sender.name or "",
        "team": ctx.settings.router.label(decision.category, language),
        "signature": ctx.settings.email.outbound.sender_name,
        "category": decision.category,
        "channel": envelope.channel.value,
        "eta_text": eta.text(language),
        "missing_details": labels(list(envelope.extras.get("missing_details") or []), language),
        "sensitive_warning": bool(envelope.extras.get("masked")),
        "notices": [notice.text(language) for notice in active_notices(ctx.settings, ctx.store, now)],
    }


def reference_for(message: StoredMessage) -> str:
    """The reference customers quote for the message's conversation (core/ids.py)."""
    assert message.conversation_id is not None
    return conversation_reference(message.conversation_id)
