"""Bringing rows the record already holds up to their hot copies: a message edited or given its transcript after it
was recorded, a contact whose channel states or identities changed (an opt-out, a phone number shared on Telegram).
Replies use `record.writer.write_replies`, which inserts or updates (workers/record_updates.py `record_replies`).
Run by the record-update job (workers/record_updates.py); every statement sets columns to the hot copy's values, so
running one twice, or two out of order, leaves the latest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, update
from sqlalchemy.dialects.postgresql import insert

from record.models import ContactIdentity, Message
from record.writer import ContactEntry, MessageEntry, message_row, write_contact

# What a later change to an inbound message can touch; its routing, contact and conversation stay as recorded.
_CONTENT = ("subject", "text", "html", "metadata_", "details", "notes", "search_text", "search_bigrams")


def refresh_message(connection: Connection, entry: MessageEntry, now: datetime) -> bool:
    """Update a recorded message's content; False when the record does not hold it (yet)."""
    row = message_row(entry, now)
    updated = connection.execute(
        update(Message).where(Message.id == entry.message.id).values(**{column: row[column] for column in _CONTENT})
    )
    return updated.rowcount > 0


def refresh_contact(connection: Connection, contact: ContactEntry) -> None:
    """Insert or update the contact; each of its identities now points at it (the hot store linked it here: a
    phone number shared on Telegram joins the contact that number belonged to)."""
    write_contact(connection, contact)
    for identity in contact.identities:
        connection.execute(
            insert(ContactIdentity)
            .values(identity=identity, contact_id=contact.id, created_at=contact.created_at)
            .on_conflict_do_update(index_elements=[ContactIdentity.identity], set_={"contact_id": contact.id})
        )
