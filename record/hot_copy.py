"""Reading the record's rows from the hot store's copies: a contact's hash, a conversation's hash. Used by the
pipeline's record step and by the import of data from before the record, so both write the same rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.store import Store, store_errors, text
from record.writer import ContactEntry, ConversationEntry

# The contact hash fields that have columns of their own; every other one is a channel state kept as attributes.
_CONTACT_COLUMNS = {"created_at", "identities", "tags", "language"}


def contact_entry(store: Store, contact_id: str, *, fallback_time: datetime) -> ContactEntry:
    return _contact(contact_id, store.contact(contact_id), fallback_time)


def conversation_entry(store: Store, conversation_id: str, *, fallback_time: datetime) -> ConversationEntry | None:
    """None when the hot store has no such conversation (or it lost its contact)."""
    return _conversation(conversation_id, store.conversation(conversation_id), fallback_time)


def routed_entries(
    store: Store, contact_id: str, conversation_id: str, *, fallback_time: datetime
) -> tuple[ContactEntry, ConversationEntry | None]:
    """A routed message's contact and conversation, in one round trip (the pipeline's record step waits for it)."""
    with store_errors(), store.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(store.key("contact", contact_id))
        pipe.hgetall(store.key("conv", conversation_id))
        contact, conversation = ({text(k): text(v) for k, v in fields.items()} for fields in pipe.execute())
    return _contact(contact_id, contact, fallback_time), _conversation(conversation_id, conversation, fallback_time)


def _contact(contact_id: str, fields: dict[str, str], fallback_time: datetime) -> ContactEntry:
    return ContactEntry(
        id=contact_id,
        created_at=_time(fields.get("created_at"), fallback_time),
        identities=fields.get("identities", "").split(),
        language=fields.get("language") or None,
        tags=fields.get("tags", "").split(),
        attributes={k: v for k, v in fields.items() if k not in _CONTACT_COLUMNS},
    )


def _conversation(conversation_id: str, fields: dict[str, Any], fallback_time: datetime) -> ConversationEntry | None:
    if not fields.get("contact_id") or not fields.get("channel"):
        return None
    return ConversationEntry(
        id=conversation_id,
        contact_id=fields["contact_id"],
        channel=fields["channel"],
        subject=fields.get("subject", ""),
        created_at=_time(fields.get("created_at"), fallback_time),
        linked_to=fields.get("linked_to") or None,
    )


def _time(value: str | None, fallback: datetime) -> datetime:
    return datetime.fromisoformat(value) if value else fallback
