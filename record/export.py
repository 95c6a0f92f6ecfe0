"""Everything Helpline holds about one contact, as JSON-ready data (`helpline contact export`): a customer's right
of access (PIPL art. 45, GDPR art. 15).

It gathers the record's rows (the contact, its identities, conversations and their thread references, messages,
replies and their delivery events, notes, survey scores, SLA events) and what Redis holds beside them (the contact's
hot copy, each message's raw payload while it is kept). Attachments are listed with their names in the attachment
folder (`ref`), not copied into the JSON. Every export is written to the audit log: who, when, which
contact, how many rows — never what was exported.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, insert, select

from core.store import Store
from record.models import (
    AttachmentRow,
    AuditEntry,
    Contact,
    ContactIdentity,
    Conversation,
    DeliveryEvent,
    Message,
    Note,
    Reply,
    SlaEvent,
    SurveyScore,
    ThreadReference,
)


def contact_for_identity(connection: Connection, identity: str) -> str | None:
    return connection.scalar(select(ContactIdentity.contact_id).where(ContactIdentity.identity == identity))


def export_contact(
    connection: Connection, contact_id: str, store: Store, *, actor: str, now: datetime
) -> dict[str, Any]:
    """The contact's data; the export is audited on `connection` (commit it with the caller's transaction)."""
    contact = _rows(connection, select(Contact).where(Contact.id == contact_id))
    conversations = select(Conversation.id).where(Conversation.contact_id == contact_id)
    messages = select(Message.id).where(Message.contact_id == contact_id)
    replies = select(Reply.id).where(Reply.message_id.in_(messages))
    for row in contact:
        row.pop("attachment_salt", None)  # how its attachment files are named: not data about the contact
    data: dict[str, Any] = {
        "contact": contact[0] if contact else None,
        "identities": _rows(connection, select(ContactIdentity).where(ContactIdentity.contact_id == contact_id)),
        "conversations": _rows(connection, select(Conversation).where(Conversation.id.in_(conversations))),
        "thread_references": _rows(
            connection, select(ThreadReference).where(ThreadReference.conversation_id.in_(conversations))
        ),
        "messages": _rows(connection, select(Message).where(Message.id.in_(messages)).order_by(Message.received_at)),
        "attachments": _rows(connection, select(AttachmentRow).where(AttachmentRow.message_id.in_(messages))),
        "replies": _rows(connection, select(Reply).where(Reply.id.in_(replies)).order_by(Reply.created_at)),
        "delivery_events": _rows(connection, select(DeliveryEvent).where(DeliveryEvent.reply_id.in_(replies))),
        "notes": _rows(connection, select(Note).where(Note.conversation_id.in_(conversations))),
        "survey_scores": _rows(connection, select(SurveyScore).where(SurveyScore.conversation_id.in_(conversations))),
        "sla_events": _rows(connection, select(SlaEvent).where(SlaEvent.conversation_id.in_(conversations))),
        "hot_store": {"contact": store.contact(contact_id), "raw_payloads": {}},
    }
    for message in data["messages"]:
        raw = store.get_raw(message["id"])
        if raw:  # base64: a payload is bytes in whatever encoding it came
            data["hot_store"]["raw_payloads"][message["id"]] = base64.b64encode(raw).decode()
    counts = {key: len(value) for key, value in data.items() if isinstance(value, list)}
    connection.execute(
        insert(AuditEntry).values(
            at=now, actor=actor, action="contact export", subject_kind="contact", subject_id=contact_id, detail=counts
        )
    )
    return data


def _rows(connection: Connection, statement: Select[Any]) -> list[dict[str, Any]]:
    """Rows as plain dicts keyed by column name."""
    return [dict(row._mapping) for row in connection.execute(statement)]
