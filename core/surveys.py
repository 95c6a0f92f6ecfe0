"""The satisfaction survey's state in Redis: which case was surveyed, when, by which reply, and whether it was rated.

Keys (prefix `hl:`), ids and times only, never what a customer wrote:
    survey:{conversation}          the case's survey claim (SET NX when it is resolved): one survey per case, ever
    survey:{conversation}:sent     hash: reply_id, message_id, sent_at (epoch), when the survey was queued
    survey:{conversation}:answer   SET NX by the first rating (a message or the web page): it is recorded once
    survey:last:{contact}          the contact's latest surveyed case, for channels without threading (SMS, chat)

The survey window (`replies.survey_window_hours`) runs from `sent_at`; the keys expire with it (plus a day).
A rating goes to the record through the record queue (`queue_score`), as ids and a score; the job reads the
comment from the rating message itself (workers/survey.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.envelope import Priority
from core.queues import reply_queue
from core.record_queue import RECORD_QUEUE
from core.store import JOB_RETRY, Store, store_errors, text

SCORE_JOB = "workers.survey.record_survey_score"
SURVEY_JOB = "workers.survey.send_survey"
_DAY = 86400


@dataclass(frozen=True)
class SentSurvey:
    conversation_id: str
    reply_id: str
    message_id: str
    sent_at: datetime

    def open_at(self, at: datetime, window_hours: float) -> bool:
        """Whether an answer arriving `at` falls in the survey window."""
        return window_hours > 0 and 0 <= (at - self.sent_at).total_seconds() <= window_hours * 3600


class Surveys:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _key(self, conversation_id: str, *parts: str) -> str:
        return self.store.key("survey", conversation_id, *parts)

    def claim(self, conversation_id: str, message_id: str) -> bool:
        """The case's one survey: True for the first caller only (a case resolved, reopened and resolved again is
        not asked twice)."""
        with store_errors():
            return bool(self.store.redis.set(self._key(conversation_id), message_id, nx=True))

    def release(self, conversation_id: str) -> None:
        """The claimed survey did not go (the case was reopened before its delay passed): the case's next resolution
        may claim it again."""
        with store_errors():
            self.store.redis.delete(self._key(conversation_id))

    def mark_sent(
        self, conversation_id: str, contact_id: str | None, reply_id: str, message_id: str, at: datetime, window: float
    ) -> None:
        ttl = int(window * 3600) + _DAY
        with store_errors(), self.store.redis.pipeline() as pipe:
            sent = self._key(conversation_id, "sent")
            pipe.hset(sent, mapping={"reply_id": reply_id, "message_id": message_id, "sent_at": str(at.timestamp())})
            pipe.expire(sent, ttl)
            if contact_id:
                pipe.set(self.store.key("survey", "last", contact_id), conversation_id, ex=ttl)
            pipe.execute()

    def sent(self, conversation_id: str) -> SentSurvey | None:
        with store_errors():
            fields = {text(k): text(v) for k, v in self.store.redis.hgetall(self._key(conversation_id, "sent")).items()}
        if not fields:
            return None
        at = datetime.fromtimestamp(float(fields["sent_at"]), UTC)
        return SentSurvey(conversation_id, fields["reply_id"], fields["message_id"], at)

    def latest_for_contact(self, contact_id: str) -> str | None:
        with store_errors():
            value = self.store.redis.get(self.store.key("survey", "last", contact_id))
        return text(value) if value else None

    def claim_answer(self, conversation_id: str, answer: str, window: float) -> str | None:
        """Claim the case's one rating for `answer` (the rating message's id, or `web:<score>`); returns None when
        the claim is this answer's (new, or its own from a run before a crash), else the answer that holds it."""
        key = self._key(conversation_id, "answer")
        with store_errors():
            if self.store.redis.set(key, answer, nx=True, ex=int(window * 3600) + _DAY):
                return None
            holder = self.store.redis.get(key)
        held = text(holder) if holder is not None else ""
        return None if held == answer else held

    def answered(self, conversation_id: str) -> bool:
        with store_errors():
            return bool(self.store.redis.exists(self._key(conversation_id, "answer")))

    def queue_score(self, conversation_id: str, reply_id: str, score: int, message_id: str = "") -> None:
        """Queue the record-update job that stores the score (with the comment of `message_id`, if any)."""
        with store_errors():
            self.store.queue(RECORD_QUEUE).enqueue_call(
                SCORE_JOB, args=(conversation_id, reply_id, score, message_id), retry=JOB_RETRY
            )


def schedule_survey(
    store: Store, delay_seconds: float, conversation_id: str, message_id: str, priority: Priority
) -> bool:
    """The case was resolved: schedule its one survey (`send_survey` on the reply queue of `priority`, after
    `delay_seconds`), unless it had one already or surveys are off (a delay of 0). Here, not in workers/, because the
    desk resolves cases and may not import the workers; the job is queued by its dotted name."""
    if delay_seconds <= 0 or not Surveys(store).claim(conversation_id, message_id):
        return False
    with store_errors():
        reply_queue(priority, store).enqueue_in(
            timedelta(seconds=delay_seconds), SURVEY_JOB, message_id, retry=JOB_RETRY
        )
    return True
