"""What an agent reads about a case: its state, every customer message in order (with the details found, merged),
the replies with their delivery state, the agents' internal notes, and the contact's other cases on any
channel.

Replies come from the record; an answer queued a moment ago is not there yet (recorded once final, in a batch:
workers/record_updates.py), so the answers the case's audit log names that the record lacks are read from their
hot copy in Redis (`queued`, usually).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.ids import conversation_reference
from core.inbox import Inbox
from core.records import StoredMessage
from desk.context import HasDesk, desk_message
from desk.details import case_details
from desk.notes import case_notes
from record.models import AuditEntry, Conversation
from record.models import Reply as ReplyRow


def case_messages(ctx: HasDesk, case_id: str) -> list[StoredMessage]:
    """The case's customer messages in the order they were filed (hot copies, or rebuilt from the record)."""
    messages = []
    for message_id in ctx.store.conversation(case_id).get("messages", []):
        message = desk_message(ctx, message_id)
        if message is not None:  # neither Redis nor the record holds it (erased): nothing to show
            messages.append(message)
    return messages


def case_view(ctx: HasDesk, case_id: str, stored: list[StoredMessage] | None = None) -> dict[str, Any]:
    """The case as agents read it; `stored`: its messages when the caller has loaded them (`case_messages`)."""
    state = Inbox(ctx.store).case(case_id)
    conversation = ctx.store.conversation(case_id)
    messages = []
    for message in case_messages(ctx, case_id) if stored is None else stored:
        envelope = message.envelope
        messages.append({
            "id": message.id, "channel": envelope.channel.value, "from": envelope.sender.model_dump(),
            "received_at": envelope.received_at.isoformat(), "subject": envelope.subject, "text": envelope.text,
            "language": envelope.language, "notes": message.notes,
            "decision": message.decision.model_dump(mode="json", exclude={"trace"}) if message.decision else None,
            "attachments": [{"index": i, "filename": a.filename, "content_type": a.content_type, "size": a.size}
                            for i, a in enumerate(envelope.attachments, start=1)],
        })  # fmt: skip
    found, missing = case_details(ctx, case_id)
    with ctx.record.connect() as connection:
        row = connection.execute(
            select(Conversation.reference, Conversation.status, Conversation.contact_id).where(
                Conversation.id == case_id
            )
        ).first()
        replies = [
            {"id": r.id, "purpose": r.purpose, "state": r.state, "text": r.text, "channel": r.channel,
             "at": r.created_at.isoformat()}
            for r in connection.execute(
                select(ReplyRow.id, ReplyRow.purpose, ReplyRow.state, ReplyRow.text, ReplyRow.channel,
                       ReplyRow.created_at)
                .where(ReplyRow.conversation_id == case_id)
                .order_by(ReplyRow.created_at)
            )
        ]  # fmt: skip
        answered = connection.scalars(
            select(AuditEntry.detail)
            .where(AuditEntry.subject_kind == "case", AuditEntry.subject_id == case_id, AuditEntry.action == "answer")
            .order_by(AuditEntry.id)
        ).all()
        others: list[Any] = []
        if row is not None:
            others = [
                *connection.execute(
                    select(Conversation.id, Conversation.reference, Conversation.channel, Conversation.status)
                    .where(Conversation.contact_id == row.contact_id, Conversation.id != case_id)
                    .order_by(Conversation.created_at)
                )
            ]
    recorded = {r["id"] for r in replies}
    for detail in answered:
        reply_id = detail.get("reply") if isinstance(detail, dict) else None
        hot = ctx.store.get_reply(reply_id) if isinstance(reply_id, str) and reply_id not in recorded else None
        if hot is not None:
            replies.append({"id": hot.id, "purpose": hot.purpose, "state": hot.state.value, "text": hot.text,
                            "channel": hot.channel.value, "at": hot.created_at.isoformat()})  # fmt: skip
    return {
        "case": case_id,
        "reference": row.reference if row is not None else conversation_reference(case_id),
        "status": state.status.value if state else (row.status if row is not None else None),
        "place": state.place.value if state and state.place else None,
        "queue": state.queue if state else None,
        "priority": state.priority.value if state else None,
        "category": state.category if state else None,
        "agent": state.agent if state else None,
        "linked_to": conversation.get("linked_to") or None,
        "details": found,
        "missing_details": missing,
        "messages": messages,
        "replies": replies,
        "notes": [{"id": n.id, "agent": n.agent, "text": n.text, "created_at": n.created_at.isoformat()}
                  for n in case_notes(ctx, case_id)],
        "other_cases": [{"case": o.id, "reference": o.reference, "channel": o.channel, "status": o.status}
                        for o in others],
    }  # fmt: skip
