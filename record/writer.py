"""Writing a message into the record: its contact and identities, its conversation and thread references, and the
message itself, on one connection (the caller's transaction: one per pipeline job).

Every insert is `ON CONFLICT DO NOTHING` on keys made from ids the hot store already gave (contact, conversation,
message id), so a retried or replayed job writes nothing twice (a contact's tags and channel states are brought up
to date instead). The message's `(channel, provider_id)` is unique
too: a message accepted a second time under a new id (its dedupe key expired, a Sentinel failover lost it) is
reported as a duplicate of the first instead of being recorded again.

Round trips are what a job waits for (on a busy machine each one waits for the database process to be scheduled),
so a message is written in one statement, data-modifying CTEs carrying the contact and its identities, the
conversation, its placement and the thread references; only a message the record already holds takes a second one.
BENCHMARKS.md (bench_record) has the figures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import CTE, ColumnElement, Connection, Exists, case, func, literal, select, update
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.exc import IntegrityError

from core.ids import alternative_reference, conversation_reference
from core.records import Reply as HotReply
from core.records import StoredMessage
from record.models import Base, Contact, ContactIdentity, Conversation, DeliveryEvent, Message, ThreadReference
from record.models import Reply as ReplyRow
from record.search import cjk_grams

log = logging.getLogger("helpline.record")

REFERENCE_ATTEMPTS = 5
# Kept in their own columns (or, for attachment content, not in the database at all).
_NOT_METADATA = {"subject", "text", "language", "sender", "recipient", "channel", "provider_id", "received_at"}
_EXTRAS_ELSEWHERE = {"html", "details", "missing_details"}


@dataclass(frozen=True)
class ContactEntry:
    id: str
    created_at: datetime
    identities: list[str] = field(default_factory=list)
    language: str | None = None
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConversationEntry:
    id: str
    contact_id: str
    channel: str
    subject: str
    created_at: datetime
    linked_to: str | None = None


@dataclass(frozen=True)
class MessageEntry:
    message: StoredMessage
    contact: ContactEntry | None = None
    conversation: ConversationEntry | None = None
    thread_references: list[str] = field(default_factory=list)
    search_text: str = ""
    search_bigrams: list[str] = field(default_factory=list)


def entry_for(
    message: StoredMessage,
    fold: Callable[[str], str],
    *,
    contact: ContactEntry | None = None,
    conversation: ConversationEntry | None = None,
    thread_references: Sequence[str] = (),
) -> MessageEntry:
    """A message's entry, its search columns made with `fold` (the router's `normalize`, which queries use too)."""
    folded = fold(f"{message.envelope.subject}\n{message.envelope.text}")
    return MessageEntry(message, contact, conversation, list(thread_references), folded, cjk_grams(folded))


@dataclass(frozen=True)
class Written:
    """What the record holds for the message now: `duplicate_of` names the message that already holds its
    `(channel, provider_id)` under another id."""

    duplicate_of: str | None = None


def write_message(connection: Connection, entry: MessageEntry, now: datetime) -> Written:
    """The message with its contact, identities, conversation, placement and thread references: one statement.

    The message's insert does nothing on a conflict: with its own id (a re-run) or with its `(channel,
    provider_id)` under another id (a twin: accepted twice). Only then a second statement asks which. A twin's
    conversation, placement and thread references are not written (`unless` it has one); its contact is, as for a
    message accepted twice it is the same person's hot copy."""
    message = entry.message
    envelope = message.envelope
    same_key = (Message.channel == envelope.channel.value) & (Message.provider_id == envelope.provider_id)
    twin = select(Message.id).where(same_key, Message.id != message.id).exists()
    ctes = _contact_ctes(entry.contact) if entry.contact else []
    written = insert(Message).values(**message_row(entry, now)).on_conflict_do_nothing().returning(Message.id)
    if entry.conversation is not None:
        conversation_ctes = _conversation_ctes(entry, now, unless=twin)
        ctes += conversation_ctes
        written = written.returning(select(conversation_ctes[0].c.reference).scalar_subquery().label("reference"))
    inserted = connection.execute(written.add_cte(*ctes)).first()
    if inserted is None:  # written by an earlier run of this job, or by its twin (perhaps a concurrent one)
        holder = connection.scalar(select(Message.id).where(same_key))
        return Written(duplicate_of=holder if holder != message.id else None)
    if entry.conversation is not None and inserted.reference is not None:
        _warn_if_collided(entry.conversation.id, inserted.reference)
    return Written()


def write_contact(connection: Connection, contact: ContactEntry) -> None:
    """Insert the contact, or bring its tags, language and channel states up to the hot store's."""
    connection.execute(select(literal(1)).add_cte(*_contact_ctes(contact)))


def _conversation_ctes(entry: MessageEntry, now: datetime, *, unless: Exists) -> list[CTE]:
    """The conversation's insert (first), its placement and its thread references, none of them for a twin. A new
    conversation is inserted placed; an existing one is placed by an update (the two never touch the same row: a
    statement's CTEs all see the table as it was before it)."""
    assert entry.conversation is not None
    conversation, message = entry.conversation, entry.message
    received_at = message.envelope.received_at
    placement: dict[str, Any] = {}
    placed: dict[str, Any] = {"last_message_at": func.greatest(Conversation.last_message_at, received_at)}
    if message.decision is not None:  # the first routed message decides where the case sits
        decision = message.decision
        placement = {"category": decision.category, "queue": decision.queue, "priority": decision.priority.value}
        columns = Conversation.__table__.c
        placed |= {column: func.coalesce(columns[column], value) for column, value in placement.items()}
    new = {**_conversation_values(conversation), **placement, "last_message_at": received_at}
    ctes = [_insert_unless(Conversation, new, unless).on_conflict_do_nothing(index_elements=[Conversation.id])
            .returning(Conversation.reference).cte("conversation_written")]  # fmt: skip
    ctes.append(update(Conversation).where(Conversation.id == conversation.id, ~unless).values(**placed).cte("placed"))
    for i, thread_reference in enumerate(dict.fromkeys(entry.thread_references)):
        row = {"reference": thread_reference, "conversation_id": conversation.id, "created_at": now, "outbound": False}
        ctes.append(_insert_unless(ThreadReference, row, unless).on_conflict_do_nothing().cte(f"threaded_{i}"))
    return ctes


def _insert_unless(table: type[Base], values: dict[str, Any], unless: Exists | None) -> Insert:
    """`INSERT ... SELECT values [WHERE NOT unless]`: an insert that a condition in the same statement can stop.
    Columns not in `values` take their server defaults (SQLAlchemy's Python-side ones do not reach a SELECT)."""
    columns = table.__table__.c
    row = select(*[v if isinstance(v, ColumnElement) else literal(v, columns[k].type) for k, v in values.items()])
    where = row if unless is None else row.where(~unless)
    return insert(table).from_select(list(values), where, include_defaults=False)


def _conversation_values(conversation: ConversationEntry) -> dict[str, Any]:
    """A new conversation's row. Its reference is the first of its candidates no other conversation holds (a
    collision of the derived reference takes the next; the unique index still decides a race). A case it is linked
    to that predates the record (the data import brings it) is left out, so the row stays writable."""
    candidates = [conversation_reference(conversation.id)]
    candidates += [alternative_reference(conversation.id, attempt) for attempt in range(1, REFERENCE_ATTEMPTS)]
    free = [(~select(Conversation.id).where(Conversation.reference == c).exists(), literal(c)) for c in candidates]
    linked_to = None
    if conversation.linked_to is not None:
        linked_to = select(Conversation.id).where(Conversation.id == conversation.linked_to).scalar_subquery()
    return {
        "id": conversation.id,
        "reference": case(*free, else_=literal(candidates[0])),
        "contact_id": conversation.contact_id,
        "channel": conversation.channel,
        "subject": conversation.subject,
        "status": "open",
        "created_at": conversation.created_at,
        "linked_to": linked_to,
    }


def _warn_if_collided(conversation_id: str, reference: str) -> None:
    if reference != conversation_reference(conversation_id):
        log.warning("conversation %s: reference collided, recorded as %s", conversation_id, reference)


def _contact_ctes(contact: ContactEntry) -> list[CTE]:
    """The contact's upsert and its identities' inserts, as CTEs of one statement (PostgreSQL checks the identities'
    foreign key at the statement's end, when the contact row is there)."""
    row = {"language": contact.language, "tags": sorted(contact.tags), "attributes": contact.attributes}
    ctes = [
        insert(Contact)
        .values(id=contact.id, created_at=contact.created_at, **row)
        .on_conflict_do_update(index_elements=[Contact.id], set_=row)
        .cte("contact_written")
    ]
    # An identity already known belongs to whoever got it first; linking identities is its own, audited step. One
    # single-row insert each: SQLAlchemy caches their compiled form (a multi-row VALUES it compiles every time).
    for i, identity in enumerate(dict.fromkeys(contact.identities)):
        known = insert(ContactIdentity).values(identity=identity, contact_id=contact.id, created_at=contact.created_at)
        ctes.append(known.on_conflict_do_nothing().cte(f"identity_{i}"))
    return ctes


def write_conversation(connection: Connection, conversation: ConversationEntry) -> str:
    """Insert the conversation once (no placement: its messages bring that); returns its reference in the record."""
    statement = _insert_unless(Conversation, _conversation_values(conversation), None)
    inserted = connection.scalar(
        statement.on_conflict_do_nothing(index_elements=[Conversation.id]).returning(Conversation.reference)
    )
    if inserted is None:  # written before (a follow-up, a re-run)
        return str(connection.scalar(select(Conversation.reference).where(Conversation.id == conversation.id)))
    _warn_if_collided(conversation.id, inserted)
    return str(inserted)


def write_reply(connection: Connection, reply: HotReply, fold: Callable[[str], str]) -> None:
    """Insert a reply, or bring its delivery state up to the hot copy's; each state it reached is a delivery event.
    Its conversation is its message's in the record. A reply whose message the record does not hold yet breaks the
    foreign key (`reply_awaits_message` tells): one statement instead of a check before it, a round trip per send."""
    conversation_id = select(Message.conversation_id).where(Message.id == reply.message_id).scalar_subquery()
    folded = fold(f"{reply.subject}\n{reply.text}")
    state = {
        "state": reply.state.value, "attempts": reply.attempts, "provider_id": reply.provider_id,
        "error": reply.error, "updated_at": reply.updated_at,
    }  # fmt: skip
    written = (
        insert(ReplyRow)
        .values(
            id=reply.id,
            message_id=reply.message_id,
            conversation_id=conversation_id,
            channel=reply.channel.value,
            to_address=reply.to,
            purpose=reply.purpose,
            language=reply.language,
            subject=reply.subject,
            text=reply.text,
            headers=reply.headers,
            search_text=folded,
            search_bigrams=cjk_grams(folded),
            created_at=reply.created_at,
            **state,
        )
        .on_conflict_do_update(index_elements=[ReplyRow.id], set_=state)
        .cte("reply_written")
    )
    connection.execute(  # one statement: the event's foreign key is checked at its end, when the reply is there
        insert(DeliveryEvent)
        .values(reply_id=reply.id, state=reply.state.value, error=reply.error, at=reply.updated_at)
        .on_conflict_do_nothing()
        .add_cte(written)
    )


def reply_awaits_message(exc: IntegrityError) -> bool:
    """Whether `write_reply` failed because the record does not hold the reply's message yet."""
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None) == REPLY_MESSAGE_KEY


REPLY_MESSAGE_KEY = "fk_replies_message_id_messages"  # `replies.message_id`'s foreign key (record/models.py NAMING)


def message_row(entry: MessageEntry, now: datetime) -> dict[str, Any]:
    message = entry.message
    envelope = message.envelope
    extras = envelope.extras
    metadata = envelope.model_dump(mode="json", exclude=_NOT_METADATA)
    metadata["extras"] = {k: v for k, v in metadata["extras"].items() if k not in _EXTRAS_ELSEWHERE}
    for attachment in metadata["attachments"]:
        attachment.pop("content_b64", None)  # attachments live on disk, never in the database
    decision = message.decision.model_dump(mode="json", exclude={"trace"}) if message.decision else None
    details = None
    if "details" in extras or "missing_details" in extras:
        details = {"found": extras.get("details", {}), "missing": extras.get("missing_details", [])}
    return {
        "id": message.id,
        "channel": envelope.channel.value,
        "provider_id": envelope.provider_id,
        "conversation_id": entry.conversation.id if entry.conversation else None,
        "contact_id": entry.contact.id if entry.contact else None,
        "state": message.state.value,
        "drop_reason": message.drop_reason,
        "sender": envelope.sender.address,
        "sender_name": envelope.sender.name,
        "recipient": envelope.recipient.address if envelope.recipient else None,
        "subject": envelope.subject,
        "text": envelope.text,
        "html": extras.get("html"),
        "language": envelope.language,
        "metadata_": metadata,
        "decision": decision,
        "trace": message.decision.trace if message.decision else None,
        "details": details,
        "notes": list(message.notes),
        "search_text": entry.search_text,
        "search_bigrams": entry.search_bigrams,
        "received_at": envelope.received_at,
        "recorded_at": now,
    }
