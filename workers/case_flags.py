"""Record-update job: a case's flag for a supervisor (core/case_flags.py) into `conversations.flags`, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, not_, select, update

from core.case_flags import FLAG_JOB, Flag
from core.record_queue import RECORD_QUEUE
from core.store import JOB_RETRY
from record.models import Conversation
from workers.context import current
from workers.record_updates import PAUSE_SECONDS, PAUSED, NotYetRecorded, RecordUnreachable, with_record


def record_case_flag(conversation_id: str, kind: str, at: str) -> str:
    ctx = current()
    flag = Flag(kind)

    def write() -> str:
        with ctx.record.begin() as connection:
            changed = connection.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, not_(Conversation.flags.contains([flag.value])))
                .values(flags=func.array_append(Conversation.flags, flag.value))
            ).rowcount
            if (
                not changed
                and connection.scalar(select(Conversation.id).where(Conversation.id == conversation_id)) is None
            ):
                raise NotYetRecorded(f"flag {flag.value}: case {conversation_id} is not in the record yet")
        return f"case {conversation_id} flagged {flag.value}" if changed else f"case {conversation_id} flagged already"

    try:
        return with_record(ctx.record, write)
    except RecordUnreachable:  # waits for the record without spending a retry (workers/record_updates.py)
        ctx.store.queue(RECORD_QUEUE).enqueue_in(
            timedelta(seconds=PAUSE_SECONDS), FLAG_JOB, conversation_id, kind, at, retry=JOB_RETRY
        )
        return PAUSED
