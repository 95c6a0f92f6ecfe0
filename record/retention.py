"""Retention of the record itself (`[retention]`), applied by the scheduler (workers/retention.py) and by
`helpline retention [--dry-run]`:

- `attachments_days`: an attachment's file is removed that long after it was stored. Its row stays (name, type,
  size: the message's history) with `ref` emptied and `removed_at` set; the file goes only when no other row still
  points at it (the same contact's same file, sent again later, keeps it until that one is due too).
- `resolved_case_years`: a case resolved that long ago is anonymised as an erasure anonymises it (record/erase.py):
  its messages, replies, notes and survey comments lose their content and the customer's addresses, its thread
  references and attachments go; the rows, their times, queue, category and priority stay for reports. The contact
  itself is left alone: it may have newer cases. `anonymised_at` marks it done.

Every cut-off is computed in Python from the `now` passed in (SQL never calls `now()`), so tests drive the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from core.settings import RetentionSettings
from record.attachments import refs_in_use
from record.erase import ErasurePlan, anonymise_content
from record.models import AttachmentRow, Conversation, Message, Reply

DAYS_PER_YEAR = 365.25


@dataclass
class RetentionPlan:
    attachment_rows: list[tuple[str, int]] = field(default_factory=list)  # (message id, position)
    attachment_refs: list[str] = field(default_factory=list)
    cases: ErasurePlan = field(default_factory=lambda: ErasurePlan("", []))

    def counts(self) -> dict[str, int]:
        return {
            "attachments": len(self.attachment_rows),
            "resolved_cases": len(self.cases.conversation_ids),
            "case_messages": len(self.cases.message_ids),
        }

    def __bool__(self) -> bool:
        return any(self.counts().values())


def plan_retention(connection: Connection, retention: RetentionSettings, now: datetime) -> RetentionPlan:
    plan = RetentionPlan()
    if retention.attachments_days > 0:  # 0: kept for good
        cutoff = now - timedelta(days=retention.attachments_days)
        rows = connection.execute(
            select(AttachmentRow.message_id, AttachmentRow.position, AttachmentRow.ref).where(
                AttachmentRow.stored_at < cutoff, AttachmentRow.ref.is_not(None)
            )
        ).all()
        plan.attachment_rows = [(row.message_id, row.position) for row in rows]
        plan.attachment_refs = sorted({row.ref for row in rows if row.ref})
    if retention.resolved_case_years > 0:
        cutoff = now - timedelta(days=retention.resolved_case_years * DAYS_PER_YEAR)
        cases = plan.cases
        cases.conversation_ids = list(
            connection.scalars(
                select(Conversation.id).where(Conversation.resolved_at < cutoff, Conversation.anonymised_at.is_(None))
            )
        )
        messages = connection.execute(
            select(Message.id, Message.channel, Message.provider_id, Message.sender).where(
                Message.conversation_id.in_(cases.conversation_ids)
            )
        ).all()
        cases.message_ids = [row.id for row in messages]
        cases.dedupe_keys = [f"{row.channel}:{row.provider_id}" for row in messages]
        replies = connection.execute(
            select(Reply.id, Reply.provider_id).where(Reply.conversation_id.in_(cases.conversation_ids))
        ).all()
        cases.reply_ids = [row.id for row in replies]
        cases.reply_provider_ids = [row.provider_id for row in replies if row.provider_id]
        refs = connection.scalars(
            select(AttachmentRow.ref).where(
                AttachmentRow.message_id.in_(cases.message_ids), AttachmentRow.ref.is_not(None)
            )
        )
        plan.attachment_refs = sorted(set(plan.attachment_refs) | {ref for ref in refs if ref})
    return plan


def apply_retention(connection: Connection, plan: RetentionPlan, now: datetime) -> list[str]:
    """Apply the plan to the record in the caller's transaction; returns the attachment files no row points at any
    more, to delete once it has committed."""
    for message_id, position in plan.attachment_rows:
        connection.execute(
            update(AttachmentRow)
            .where(AttachmentRow.message_id == message_id, AttachmentRow.position == position)
            .values(ref=None, removed_at=now)
        )
    if plan.cases.conversation_ids:
        anonymise_content(connection, plan.cases)
        connection.execute(
            update(Conversation).where(Conversation.id.in_(plan.cases.conversation_ids)).values(anonymised_at=now)
        )
    in_use = refs_in_use(connection, plan.attachment_refs)
    return [ref for ref in plan.attachment_refs if ref not in in_use]
