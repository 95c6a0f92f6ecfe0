"""What the pipeline's `take_survey_answer` step does: take a customer's answer to the satisfaction survey out of
the way of agents.

It runs before `thread`: a rating (core/survey_answer.py) within the survey window of a surveyed case is recorded as
that case's score (with any further text as its comment) and the message is dropped, with the reason, before it can
join, reopen or open a case: it is never filed for agents and gets no acknowledgement. A low score (1–2) with a
comment flags the case for a supervisor (core/case_flags.py). Everything else goes on as usual.

Which case it answers: an email must reference the case (a reply to the survey carries its Message-ID) and come
from one of its participants (the hijack guard of `thread`); other channels have no threading, so it is the
sender's latest surveyed case. A second rating of the same case is dropped too, not recorded: the first one counts.
"""

from __future__ import annotations

from core.case_flags import Flag, flag_case
from core.envelope import Channel, Envelope
from core.survey_answer import parse_rating
from core.surveys import Surveys
from workers.context import Context

LOW_SCORE = 2


def survey_answer(envelope: Envelope, message_id: str, contact_id: str, ctx: Context) -> str | None:
    """Record the message as its case's survey answer if it is one, and say why it goes no further; else None."""
    window = ctx.settings.replies.survey_window_hours
    # The text first: most messages are no rating, and reading one costs no round trip to Redis.
    rating = parse_rating(envelope.text) if window > 0 else None
    if rating is None:
        return None
    surveys = Surveys(ctx.store)
    conversation = _surveyed_case(envelope, contact_id, ctx)
    survey = surveys.sent(conversation) if conversation else None
    if survey is None or not survey.open_at(envelope.received_at, window):
        return None
    ctx.store.mark_threaded(envelope, [message_id])  # the sender's next message need not wait for this one
    if surveys.claim_answer(survey.conversation_id, message_id, window) is not None:
        return f"survey answer {rating.score}/5 for case {survey.conversation_id}, rated already"
    surveys.queue_score(survey.conversation_id, survey.reply_id, rating.score, message_id)
    flagged = rating.score <= LOW_SCORE and rating.comment is not None
    if flagged:
        flag_case(ctx.store, survey.conversation_id, Flag.LOW_SCORE, envelope.received_at)
    return f"survey answer {rating.score}/5 for case {survey.conversation_id}" + (", flagged" if flagged else "")


def _surveyed_case(envelope: Envelope, contact_id: str, ctx: Context) -> str | None:
    store = ctx.store
    if envelope.channel is not Channel.EMAIL:
        return Surveys(store).latest_for_contact(contact_id) if contact_id else None
    for reference in [envelope.in_reply_to or "", *reversed(envelope.references)]:
        conversation = store.conversation_for_reference(reference) if reference else None
        if conversation is not None and store.is_participant(conversation, envelope.sender.address):
            return conversation
    return None
