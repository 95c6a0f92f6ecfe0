"""The numbered data imports `helpline migrate` runs after the schema migrations, each once per database.

1. `redis-only data`: what Helpline kept before it had a record (contacts, conversations, thread references,
   messages, replies) is copied from Redis with the writer the pipeline uses, so an imported row is the row the
   pipeline would have written. Nothing is removed from Redis. Messages still waiting for their pipeline job are
   left to it: the job records them when it runs. Every insert is keyed by the hot store's ids, so running the
   import again (say, after a failure half-way) adds nothing twice. Once it has committed, the imported messages'
   raw payloads and dedupe keys start their `[retention]` lifetimes, as the pipeline's do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects.postgresql import insert

from core.records import MessageState, utcnow
from core.settings import RetentionSettings
from core.store import Store, text
from record.hot_copy import contact_entry, conversation_entry
from record.migrate import DataImportStep
from record.models import Conversation, Message, ThreadReference
from record.writer import (
    ContactEntry,
    ConversationEntry,
    entry_for,
    write_contact,
    write_conversation,
    write_message,
    write_replies,
)


def data_imports(
    store: Store,
    fold: Callable[[str], str],
    now: Callable[[], datetime] = utcnow,
    retention: RetentionSettings | None = None,
) -> list[DataImportStep]:
    """Every data import, in number order; `store` is the Redis they read from, `fold` the search text's folding,
    `retention` the lifetimes the imported messages' raw payloads and dedupe keys get once the import committed."""
    lifetimes = retention or RetentionSettings()
    return [
        DataImportStep(
            1,
            "redis-only data",
            lambda connection: import_redis_data(connection, store, fold, now()),
            after_commit=lambda engine: start_retention_of_recorded(engine, store, lifetimes),
        )
    ]


def start_retention_of_recorded(engine: Engine, store: Store, retention: RetentionSettings) -> int:
    """Give every recorded message's raw payload, dedupe key and hot copy that has no expiry yet its `[retention]`
    lifetime (what the pipeline does for each message it records); returns how many keys got one."""
    started = 0
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=1000).execute(
            select(Message.id, Message.channel, Message.provider_id)
        )
        for batch in result.partitions():
            started += store.start_retention(
                [(row.id, f"{row.channel}:{row.provider_id}") for row in batch],
                int(retention.raw_payload_days * 86400),
                int(retention.dedupe_key_days * 86400),
                int(retention.hot_message_days * 86400),
                only_unset=True,
            )
    return started


def import_redis_data(
    connection: Connection, store: Store, fold: Callable[[str], str], now: datetime
) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    contacts: dict[str, ContactEntry] = {}
    for contact_id in _ids(store, "contact"):
        contacts[contact_id] = contact_entry(store, contact_id, fallback_time=now)
        write_contact(connection, contacts[contact_id])
        counts["contacts"] += 1
    conversations: dict[str, ConversationEntry] = {}
    for conversation_id in _ids(store, "conv"):
        conversation = conversation_entry(store, conversation_id, fallback_time=now)
        if conversation is None:
            counts["conversations without contact or channel, skipped"] += 1
            continue
        if conversation.contact_id not in contacts:  # its contact hash is gone: keep the case, with a bare contact
            contacts[conversation.contact_id] = ContactEntry(conversation.contact_id, conversation.created_at)
            write_contact(connection, contacts[conversation.contact_id])
        write_conversation(connection, replace(conversation, linked_to=None))  # links once all are in
        conversations[conversation_id] = conversation
        counts["conversations"] += 1
    for conversation in conversations.values():
        if conversation.linked_to in conversations:
            connection.execute(
                update(Conversation)
                .where(Conversation.id == conversation.id, Conversation.linked_to.is_(None))
                .values(linked_to=conversation.linked_to)
            )
    outbound = {text(i) for i in store.redis.smembers(store.key("outbound-ids"))}
    for key in store.redis.scan_iter(match=store.key("threadref", "*"), count=1000):
        reference = text(key).split(":", 2)[2]
        conversation_id = text(store.redis.get(key) or b"")
        if conversation_id in conversations:
            connection.execute(
                insert(ThreadReference)
                .values(
                    reference=reference,
                    conversation_id=conversation_id,
                    outbound=reference in outbound,
                    created_at=conversations[conversation_id].created_at,
                )
                .on_conflict_do_nothing()
            )
            counts["thread references"] += 1
    for message_id in store.message_ids():
        message = store.get_message(message_id)
        if message is None:
            counts["messages listed but missing"] += 1
            continue
        if message.state is MessageState.RECEIVED:
            counts["messages left to their pipeline job"] += 1
            continue
        entry = entry_for(
            message,
            fold,
            contact=contacts.get(message.contact_id or ""),
            conversation=conversations.get(message.conversation_id or ""),
        )
        written = write_message(connection, entry, now)
        counts["messages" if written.duplicate_of is None else "messages accepted twice, skipped"] += 1
    for reply_id in _ids(store, "reply"):
        reply = store.get_reply(reply_id)
        if reply is None:
            continue
        answered = connection.execute(select(Message.conversation_id).where(Message.id == reply.message_id)).first()
        if answered is None:
            counts["replies to messages not recorded, skipped"] += 1
            continue
        write_replies(connection, [reply], fold)
        counts["replies"] += 1
    return dict(counts)


def _ids(store: Store, kind: str) -> Iterator[str]:
    """The ids of `{prefix}:{kind}:{id}` keys (not the longer keys that hang off them, like `conv:{id}:messages`)."""
    for key in store.redis.scan_iter(match=store.key(kind, "*"), count=1000):
        parts = text(key).split(":")
        if len(parts) == 3:
            yield parts[2]
