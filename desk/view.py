"""What an agent reads about a case: its state, every customer message in order (with the details found, merged),
the replies in the record with their delivery state, the agents' internal notes, and the contact's other cases on
any channel."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.ids import conversation_reference
from core.inbox import Inbox
from desk.context import HasDesk, desk_message
from desk.details import case_details
from desk.notes import case_notes
from record.models import Conversation
from record.models import Reply as ReplyRow


def case_view(ctx: HasDesk, case_id: str) -> dict[str, Any]:
    state = Inbox(ctx.store).case(case_id)
    conversation = ctx.store.conversation(case_id)
    messages = []
    for message_id in conversation.get("messages", []):
        message = desk_message(ctx, message_id)
        if message is None:
            continue  # its hot copy expired: the record has it (helpline search)
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
        replies = connection.execute(
            select(ReplyRow.id, ReplyRow.purpose, ReplyRow.state, ReplyRow.text, ReplyRow.created_at)
            .where(ReplyRow.conversation_id == case_id)
            .order_by(ReplyRow.created_at)
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
        "replies": [{"id": r.id, "purpose": r.purpose, "state": r.state, "text": r.text} for r in replies],
        "notes": [{"id": n.id, "agent": n.agent, "text": n.text, "created_at": n.created_at.isoformat()}
                  for n in case_notes(ctx, case_id)],
        "other_cases": [{"case": o.id, "reference": o.reference, "channel": o.channel, "status": o.status}
                        for o in others],
    }  # fmt: skip
