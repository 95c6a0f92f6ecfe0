"""Reading the record's rows from the hot store's copies: a contact's hash, a conversation's hash. Used by the
pipeline's record step and by the import of data from before the record, so both write the same rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.store import Store, store_errors, text
from record.erase_hot import erased_since, marker_key
from record.writer import ContactEntry, ConversationEntry

# The contact hash fields that have columns of their own; every other one is a channel state kept as attributes.
_CONTACT_COLUMNS = {"created_at", "identities", "tags", "language"}


def contact_entry(store: Store, contact_id: str, *, fallback_time: datetime) -> ContactEntry:
    return _contact(contact_id, store.contact(contact_id), fallback_time)


def conversation_entry(store: Store, conversation_id: str, *, fallback_time: datetime) -> ConversationEntry | None:
    """None when the hot store has no such conversation (or it lost its contact)."""
    return _conversation(conversation_id, store.conversation(conversation_id), fallback_time)


@dataclass(frozen=True)
class RoutedEntries:
    """What the record step reads from the hot store for a routed message."""

    contact: ContactEntry
    conversation: ConversationEntry | None
    sender_erased: bool  # the sender's data was erased after the message arrived (record/erase_hot.py)


def routed_entries(
    store: Store, contact_id: str, conversation_id: str, *, sender_identity: str | None, received_at: datetime
) -> RoutedEntries:
    """A routed message's contact and conversation, and whether its sender was erased since it arrived, in one round
    trip (the pipeline's record step waits for it)."""
    with store_errors(), store.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(store.key("contact", contact_id))
        pipe.hgetall(store.key("conv", conversation_id))
        if sender_identity is not None:
            pipe.get(marker_key(store, sender_identity))
        contact, conversation, *marker = pipe.execute()
    return RoutedEntries(
        _contact(contact_id, _fields(contact), received_at),
        _conversation(conversation_id, _fields(conversation), received_at),
        erased_since(marker[0] if marker else None, received_at),
    )


def _fields(hash_value: dict[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in hash_value.items()}


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
