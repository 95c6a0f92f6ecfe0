"""Erasing a contact from the record (`helpline contact erase`): a customer's right to erasure (PIPL art. 47, GDPR
art. 17), done as anonymisation.

Rows that reports count (conversations, messages, replies, delivery events, survey scores, SLA events) stay, with
their times, channel, state, queue, category and priority, so last year's volumes and response times do not change;
everything that says who the customer was or what they wrote is nulled or emptied: identities, names, addresses,
subjects, texts, HTML, metadata, routing traces, details found, notes' and survey comments' text, provider ids
(an email Message-ID often carries the sender's domain). The contact row stays, empty, with `erased_at`. Thread
references and attachment rows are deleted, and the attachment files with them (record/attachments.py: a file is
named per contact, so no other contact's file shares its name).

The audit log gets who and when and how many rows of each kind: never the address, nor a hash of it.
Redis's copies are erased by record/erase_hot.py; the in-flight marker lives there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, text, update

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

# VACUUMed after an erasure, so the old row versions are not left readable in the tables' free space.
ERASED_TABLES = ("messages", "replies", "conversations", "contacts", "identities", "thread_references",
                 "attachments", "notes", "survey_scores", "delivery_events")  # fmt: skip


@dataclass
class ErasurePlan:
    """What the record holds about one contact: the ids an erasure touches, in the record and in Redis."""

    contact_id: str
    identities: list[str]
    message_ids: list[str] = field(default_factory=list)
    conversation_ids: list[str] = field(default_factory=list)
    reply_ids: list[str] = field(default_factory=list)
    reply_provider_ids: list[str] = field(default_factory=list)
    dedupe_keys: list[str] = field(default_factory=list)
    senders: list[tuple[str, str]] = field(default_factory=list)  # (channel, address) pairs, for Redis's keys
    refs: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "identities": len(self.identities), "conversations": len(self.conversation_ids),
            "messages": len(self.message_ids), "replies": len(self.reply_ids), "attachment_files": len(self.refs),
        }  # fmt: skip


def addresses_of(identities: list[str]) -> list[str]:
    """The sender addresses messages carry for these identities (`email:a@b` → `a@b`; a phone also as WhatsApp's)."""
    addresses: list[str] = []
    for identity in identities:
        kind, _, value = identity.partition(":")
        addresses.append(value.lower())
        if kind == "phone":
            addresses.append(f"whatsapp:{value}")
    return addresses


def plan_erasure(connection: Connection, contact_id: str) -> ErasurePlan:
    identities = list(
        connection.scalars(select(ContactIdentity.identity).where(ContactIdentity.contact_id == contact_id))
    )
    plan = ErasurePlan(contact_id, identities)
    plan.conversation_ids = list(
        connection.scalars(select(Conversation.id).where(Conversation.contact_id == contact_id))
    )
    # Its messages, those in its conversations, and the ones dropped before they had a contact (an auto-reply).
    addresses = addresses_of(identities)
    rows = connection.execute(
        select(Message.id, Message.channel, Message.provider_id, Message.sender).where(
            or_(
                Message.contact_id == contact_id,
                Message.conversation_id.in_(plan.conversation_ids),
                Message.contact_id.is_(None) & func.lower(Message.sender).in_(addresses),
            )
        )
    ).all()
    plan.message_ids = [row.id for row in rows]
    plan.dedupe_keys = [f"{row.channel}:{row.provider_id}" for row in rows]
    plan.senders = sorted({(row.channel, row.sender) for row in rows if row.sender})
    replies = connection.execute(
        select(Reply.id, Reply.provider_id).where(
            or_(Reply.message_id.in_(plan.message_ids), Reply.conversation_id.in_(plan.conversation_ids))
        )
    ).all()
    plan.reply_ids = [row.id for row in replies]
    plan.reply_provider_ids = [row.provider_id for row in replies if row.provider_id]
    plan.refs = sorted(
        set(
            connection.scalars(
                select(AttachmentRow.ref).where(
                    AttachmentRow.message_id.in_(plan.message_ids), AttachmentRow.ref.is_not(None)
                )
            )
        )
    )
    return plan


def erase_record(connection: Connection, plan: ErasurePlan, *, actor: str, now: datetime) -> None:
    """Anonymise the plan's rows and audit the erasure, in the caller's transaction."""
    anonymise_content(connection, plan)
    connection.execute(delete(ContactIdentity).where(ContactIdentity.contact_id == plan.contact_id))
    connection.execute(
        update(Contact)
        .where(Contact.id == plan.contact_id)
        .values(language=None, tags=[], attributes={}, attachment_salt=None, erased_at=now)
    )
    detail: dict[str, Any] = plan.counts()
    connection.execute(
        insert(AuditEntry).values(
            at=now,
            actor=actor,
            action="contact erase",
            subject_kind="contact",
            subject_id=plan.contact_id,
            detail=detail,
        )
    )


def anonymise_content(connection: Connection, plan: ErasurePlan) -> None:
    """Empty the plan's messages, replies, conversations, notes and survey comments of what the customer wrote and
    who they are; delete its thread references and attachment rows. The rows and their counts and times stay."""
    messages, conversations, replies = plan.message_ids, plan.conversation_ids, plan.reply_ids
    connection.execute(
        update(Message)
        .where(Message.id.in_(messages))
        .values(
            provider_id=func.concat("erased:", Message.id),
            contact_id=None,
            sender="",
            sender_name=None,
            recipient=None,
            subject="",
            text="",
            html=None,
            metadata_={},
            trace=None,
            details=None,
            notes=[],
            search_text="",
            search_bigrams=[],
            drop_reason=None,
        )
    )
    connection.execute(delete(AttachmentRow).where(AttachmentRow.message_id.in_(messages)))
    connection.execute(
        update(Reply)
        .where(Reply.id.in_(replies))
        .values(
            to_address="",
            subject="",
            text="",
            headers={},
            error=None,
            provider_id=None,
            search_text="",
            search_bigrams=[],
        )
    )
    connection.execute(update(DeliveryEvent).where(DeliveryEvent.reply_id.in_(replies)).values(error=None))
    connection.execute(update(Conversation).where(Conversation.id.in_(conversations)).values(subject=""))
    connection.execute(delete(ThreadReference).where(ThreadReference.conversation_id.in_(conversations)))
    connection.execute(
        update(Note).where(Note.conversation_id.in_(conversations)).values(text="", search_text="", search_bigrams=[])
    )
    connection.execute(update(SurveyScore).where(SurveyScore.conversation_id.in_(conversations)).values(comment=None))
    connection.execute(update(SlaEvent).where(SlaEvent.conversation_id.in_(conversations)).values(detail={}))


def vacuum(connection: Connection) -> None:
    """VACUUM the erased tables (on an AUTOCOMMIT connection: VACUUM cannot run in a transaction)."""
    connection.execute(text(f"VACUUM (ANALYZE) {', '.join(ERASED_TABLES)}"))
