"""The satisfaction survey: asked once per case when it is resolved, answered by a rating or on a web page.

`schedule_survey` (called when an agent resolves a case) claims the case's one survey and schedules `send_survey`
`replies.survey_delay_seconds` later. The survey goes in the customer's language, on their channel, through the
same `send_reply` job as every reply; on the channels of `replies.survey_link_channels` it carries a signed link to
the survey's web page (web/survey_routes.py). Its answer is read by the pipeline (workers/survey_step.py) or the
page, and stored by `record_survey_score`, a record-update job.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from core import surveys
from core.inbox import Inbox, Status
from core.language import reply_language
from core.record_queue import RECORD_QUEUE
from core.records import Reply, StoredMessage, utcnow
from core.sending import queue_reply
from core.store import JOB_RETRY
from core.survey_answer import parse_rating
from core.survey_link import SurveyToken, sign
from core.surveys import SCORE_JOB, Surveys
from record.models import Reply as ReplyRow
from record.models import SurveyScore
from templates import render
from workers.acknowledge import reference_for
from workers.context import Context, current
from workers.record_updates import PAUSE_SECONDS, PAUSED, NotYetRecorded, RecordUnreachable, with_record

log = logging.getLogger("helpline.survey")


def schedule_survey(ctx: Context, message: StoredMessage) -> bool:
    """The case of `message` was resolved: schedule its survey, unless it had one already (or surveys are off)."""
    if message.decision is None or message.conversation_id is None:
        return False
    delay = ctx.settings.replies.survey_delay_seconds
    return surveys.schedule_survey(ctx.store, delay, message.conversation_id, message.id, message.decision.priority)


def send_survey(message_id: str) -> str:
    """RQ job: render and queue the satisfaction survey for the case of `message_id`."""
    ctx = current()
    message = ctx.store.get_message(message_id)
    if message is None or message.decision is None or message.conversation_id is None:
        return "message gone"
    if message.envelope.no_auto_reply_reason:
        return f"not surveyed: {message.envelope.no_auto_reply_reason}"
    survey_id = f"r-survey-{message.id}"  # one per message: a retried job finds it instead of making a second
    if ctx.store.get_reply(survey_id) is not None:  # saved in the MULTI that queued its send: nothing more to do
        return f"survey {survey_id} already queued"
    case = Inbox(ctx.store).case(message.conversation_id)
    if case is not None and case.status is not Status.RESOLVED:
        # Reopened (by an agent, or by the customer writing) before the delay passed: rating a case that is open
        # again would be asking too soon. Its next resolution asks instead.
        Surveys(ctx.store).release(message.conversation_id)
        return f"not surveyed: the case is {case.status.value} again"
    envelope = message.envelope
    language = reply_language(envelope.language, ctx.settings.replies.default_language)
    now = utcnow()
    window = ctx.settings.replies.survey_window_hours
    link = _link(ctx, message.conversation_id, survey_id, language, now + timedelta(hours=window), message)
    rendered = render("survey", envelope.channel.value, language,
                      {"reference": reference_for(message), "name": envelope.sender.name or "", "link": link,
                       "subject": envelope.subject, "signature": ctx.settings.email.outbound.sender_name})  # fmt: skip
    reply = Reply(
        id=survey_id, message_id=message.id, channel=envelope.channel, to=envelope.sender.address,
        purpose="survey", language=language, subject=rendered.subject, text=rendered.text,
    )  # fmt: skip
    # Marked before the send is queued: an answer can only come after the survey went out.
    Surveys(ctx.store).mark_sent(message.conversation_id, message.contact_id, survey_id, message.id, now, window)
    queue_reply(ctx.store, reply, message.decision.priority)
    return f"survey {reply.id} queued"


def _link(ctx: Context, conversation_id: str, reply_id: str, language: str, expires: datetime, m: StoredMessage) -> str:
    """The survey page's link for this case, or "" when its channel answers by reply (or links are not set up)."""
    web, replies = ctx.settings.web, ctx.settings.replies
    if m.envelope.channel not in replies.survey_link_channels or not web.public_url or web.survey_secret is None:
        return ""
    token = sign(web.survey_secret.get_secret_value(), SurveyToken(conversation_id, reply_id, language, expires))
    return f"{web.public_url.rstrip('/')}/survey/{token}"


def record_survey_score(conversation_id: str, reply_id: str, score: int, message_id: str) -> str:
    """Record-update job: the case's score, once per survey (the survey reply is unique in `survey_scores`), with
    the comment read from the rating message `message_id` (none from the web page)."""
    ctx = current()
    try:
        return with_record(ctx.record, lambda: _record_score(ctx, conversation_id, reply_id, score, message_id))
    except RecordUnreachable:  # waits for the record without spending a retry (workers/record_updates.py)
        ctx.store.queue(RECORD_QUEUE).enqueue_in(
            timedelta(seconds=PAUSE_SECONDS), SCORE_JOB, conversation_id, reply_id, score, message_id, retry=JOB_RETRY
        )
        return PAUSED


def _record_score(ctx: Context, conversation_id: str, reply_id: str, score: int, message_id: str) -> str:
    comment: str | None = None
    if message_id:
        message = ctx.store.get_message(message_id)
        rating = parse_rating(message.envelope.text) if message is not None else None
        comment = rating.comment if rating is not None else None
    with ctx.record.begin() as connection:
        if connection.scalar(select(ReplyRow.id).where(ReplyRow.id == reply_id)) is None:
            raise NotYetRecorded(f"survey score for {conversation_id}: its survey {reply_id} is not recorded yet")
        inserted = connection.execute(
            insert(SurveyScore)
            .values(conversation_id=conversation_id, reply_id=reply_id, score=score, comment=comment, at=utcnow())
            .on_conflict_do_nothing(index_elements=[SurveyScore.reply_id])
        )
    if inserted.rowcount == 0:
        return f"case {conversation_id} already has its score"
    log.info("case %s rated %d/5%s", conversation_id, score, " with a comment" if comment else "")
    return f"case {conversation_id} rated {score}/5"
