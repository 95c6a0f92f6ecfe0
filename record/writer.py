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
from functools import cache
from typing import Any

from sqlalchemy import (
    CTE,
    BindParameter,
    ColumnElement,
    Connection,
    Exists,
    Select,
    Text,
    bindparam,
    case,
    false,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.sql.dml import ReturningInsert

from core.ids import alternative_reference, conversation_reference
from core.records import ANSWER, StoredMessage
from core.records import Reply as HotReply
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
    conversation, placement and thread references are not written; its contact is, as for a message accepted twice
    it is the same person's hot copy."""
    message, contact, conversation = entry.message, entry.contact, entry.conversation
    row = message_row(entry, now)
    references = list(dict.fromkeys(entry.thread_references)) if conversation is not None else []
    shape = _MessageShape(
        columns=tuple(row),
        identities=len(dict.fromkeys(contact.identities)) if contact is not None else None,
        conversation=conversation is not None,
        references=len(references),
        decided=message.decision is not None,
        linked=conversation is not None and conversation.linked_to is not None,
    )
    params = {f"m_{column}": value for column, value in row.items()}
    params |= {f"ref_{i}": reference for i, reference in enumerate(references)}
    if contact is not None:
        params |= _contact_params(contact)
    if conversation is not None:
        params |= _conversation_params(conversation)
    if message.decision is not None:
        decision = message.decision
        params |= {"d_category": decision.category, "d_queue": decision.queue, "d_priority": decision.priority.value}
    inserted = connection.execute(_message_statement(shape), params).first()
    if inserted is None:  # written by an earlier run of this job, or by its twin (perhaps a concurrent one)
        envelope = message.envelope
        holder = connection.scalar(
            select(Message.id).where(
                Message.channel == envelope.channel.value, Message.provider_id == envelope.provider_id
            )
        )
        return Written(duplicate_of=holder if holder != message.id else None)
    if conversation is not None and inserted.reference is not None:
        _warn_if_collided(conversation.id, inserted.reference)
    return Written()


def write_contact(connection: Connection, contact: ContactEntry) -> None:
    """Insert the contact, or bring its tags, language and channel states up to the hot store's."""
    statement = _contact_statement(len(dict.fromkeys(contact.identities)))
    connection.execute(statement, _contact_params(contact))


def write_conversation(connection: Connection, conversation: ConversationEntry) -> str:
    """Insert the conversation once (no placement: its messages bring that); returns its reference in the record."""
    statement = _conversation_statement(conversation.linked_to is not None)
    inserted = connection.scalar(statement, _conversation_params(conversation))
    if inserted is None:  # written before (a follow-up, a re-run)
        return str(connection.scalar(select(Conversation.reference).where(Conversation.id == conversation.id)))
    _warn_if_collided(conversation.id, inserted)
    return str(inserted)


def write_replies(connection: Connection, replies: Sequence[HotReply], fold: Callable[[str], str]) -> None:
    """Insert replies, or bring their delivery states up to their hot copies'; each state a reply reached is a
    delivery event. A reply's conversation is its message's in the record, which must hold the message. One
    statement, run for all of them in one round trip (psycopg's pipeline mode)."""
    if replies:
        rows = [_reply_row(reply, fold) for reply in replies]
        params = [{f"r_{column}": value for column, value in row.items()} for row in rows]
        connection.execute(_reply_statement(tuple(rows[0])), params)


def _reply_row(reply: HotReply, fold: Callable[[str], str]) -> dict[str, Any]:
    # Search finds what people wrote. An automatic reply is its template's words, the same in every case
    # ("password", "verification code", the team's name): searchable, it would bury the customers' messages and the
    # agents' answers (it is newer than the message it answers), and its trigrams and grams cost the record about
    # 8 KB a message (BENCHMARKS.md).
    folded = fold(f"{reply.subject}\n{reply.text}") if reply.purpose == ANSWER else ""
    return {
        "id": reply.id, "message_id": reply.message_id, "channel": reply.channel.value, "to_address": reply.to,
        "purpose": reply.purpose, "language": reply.language, "subject": reply.subject, "text": reply.text,
        "headers": reply.headers, "search_text": folded, "search_bigrams": cjk_grams(folded),
        "created_at": reply.created_at, "state": reply.state.value, "attempts": reply.attempts,
        "provider_id": reply.provider_id, "error": reply.error, "updated_at": reply.updated_at,
    }  # fmt: skip


# Statements are built once per shape and cached: building a statement of a dozen CTEs and computing its cache key
# cost the workers more CPU than PostgreSQL spends running it (bench/profile_record.py). Their bind parameters are
# filled per row: `m_*` the message, `c_*` its contact, `v_*` its conversation, `d_*` its decision.


@dataclass(frozen=True)
class _MessageShape:
    columns: tuple[str, ...]
    identities: int | None  # None: no contact
    conversation: bool
    references: int
    decided: bool
    linked: bool


@cache
def _message_statement(shape: _MessageShape) -> ReturningInsert[Any]:
    m = _bound(Message, "m_", shape.columns)
    same_key = (Message.channel == m["channel"]) & (Message.provider_id == m["provider_id"])
    # A twin (the message recorded under another id) stops the conversation's writes: named once, as a CTE, rather
    # than spelled out in each of them, which keeps the statement under psycopg's 4,096 bytes for caching its
    # placeholders' conversion (0.13 ms a message, BENCHMARKS.md).
    twin = select(select(Message.id).where(same_key, Message.id != m["id"]).cte("twin")).exists()
    ctes = _contact_ctes(shape.identities) if shape.identities is not None else []
    written = insert(Message).values(m).on_conflict_do_nothing().returning(Message.id)
    if shape.conversation:
        decision = _bound(Conversation, "d_", ("category", "queue", "priority")) if shape.decided else {}
        placement: dict[str, Any] = {"last_message_at": m["received_at"], **decision}
        new = _insert_unless(Conversation, {**_conversation_values(shape.linked), **placement}, twin)
        conversation = new.on_conflict_do_nothing(index_elements=[Conversation.id]).returning(Conversation.reference)
        conversation_written = conversation.cte("conversation_written")
        placed = {"last_message_at": func.greatest(Conversation.last_message_at, m["received_at"])}
        columns = Conversation.__table__.c
        placed |= {column: func.coalesce(columns[column], value) for column, value in decision.items()}
        conversation_id = m["conversation_id"]
        ctes += [
            conversation_written,
            update(Conversation).where(Conversation.id == conversation_id, ~twin).values(placed).cte("placed"),
        ]
        for i in range(shape.references):
            row = {"reference": bindparam(f"ref_{i}", type_=Text()), "conversation_id": conversation_id,
                   "created_at": m["recorded_at"], "outbound": false()}  # fmt: skip
            ctes.append(_insert_unless(ThreadReference, row, twin).on_conflict_do_nothing().cte(f"threaded_{i}"))
        written = written.returning(select(conversation_written.c.reference).scalar_subquery().label("reference"))
    return written.add_cte(*ctes)


@cache
def _contact_statement(identities: int) -> Select[Any]:
    return select(literal(1)).add_cte(*_contact_ctes(identities))


def _contact_ctes(identities: int) -> list[CTE]:
    """The contact's upsert and its identities' inserts, as CTEs of one statement (PostgreSQL checks the identities'
    foreign key at the statement's end, when the contact row is there)."""
    c = _bound(Contact, "c_", ("id", "created_at", "language", "tags", "attributes"))
    upsert = insert(Contact).values(c)
    kept = {column: upsert.excluded[column] for column in ("language", "tags", "attributes")}
    ctes = [upsert.on_conflict_do_update(index_elements=[Contact.id], set_=kept).cte("contact_written")]
    # An identity already known belongs to whoever got it first; linking identities is its own, audited step.
    for i in range(identities):
        known = {"identity": bindparam(f"c_identity_{i}", type_=Text()), "contact_id": c["id"],
                 "created_at": c["created_at"]}  # fmt: skip
        ctes.append(insert(ContactIdentity).values(known).on_conflict_do_nothing().cte(f"identity_{i}"))
    return ctes


def _contact_params(contact: ContactEntry) -> dict[str, Any]:
    params = {"c_id": contact.id, "c_created_at": contact.created_at, "c_language": contact.language,
              "c_tags": sorted(contact.tags), "c_attributes": contact.attributes}  # fmt: skip
    return params | {f"c_identity_{i}": identity for i, identity in enumerate(dict.fromkeys(contact.identities))}


@cache
def _conversation_statement(linked: bool) -> ReturningInsert[Any]:
    new = _insert_unless(Conversation, _conversation_values(linked), None)
    return new.on_conflict_do_nothing(index_elements=[Conversation.id]).returning(Conversation.reference)


def _conversation_values(linked: bool) -> dict[str, ColumnElement[Any]]:
    """A new conversation's row. Its reference is the first of its candidates no other conversation holds (a
    collision of the derived reference takes the next; the unique index still decides a race). A case it is linked
    to that predates the record (the data import brings it) is left out, so the row stays writable."""
    v = _bound(Conversation, "v_", ("id", "contact_id", "channel", "subject", "status", "created_at"))
    candidates = [bindparam(f"v_reference_{i}", type_=Text()) for i in range(REFERENCE_ATTEMPTS)]
    free = [(~select(Conversation.id).where(Conversation.reference == c).exists(), c) for c in candidates]
    values: dict[str, ColumnElement[Any]] = {**v, "reference": case(*free, else_=candidates[0])}
    if linked:
        linked_to = bindparam("v_linked_to", type_=Text())
        values["linked_to"] = select(Conversation.id).where(Conversation.id == linked_to).scalar_subquery()
    return values


def _conversation_params(conversation: ConversationEntry) -> dict[str, Any]:
    candidates = [conversation_reference(conversation.id)]
    candidates += [alternative_reference(conversation.id, attempt) for attempt in range(1, REFERENCE_ATTEMPTS)]
    params = {"v_id": conversation.id, "v_contact_id": conversation.contact_id, "v_channel": conversation.channel,
              "v_subject": conversation.subject, "v_status": "open", "v_created_at": conversation.created_at,
              "v_linked_to": conversation.linked_to}  # fmt: skip
    return params | {f"v_reference_{i}": candidate for i, candidate in enumerate(candidates)}


@cache
def _reply_statement(columns: tuple[str, ...]) -> Insert:
    r = _bound(ReplyRow, "r_", columns)
    of_message = select(Message.conversation_id).where(Message.id == r["message_id"]).scalar_subquery()
    upsert = insert(ReplyRow).values({**r, "conversation_id": of_message})
    state = {column: upsert.excluded[column] for column in REPLY_STATE}
    written = upsert.on_conflict_do_update(index_elements=[ReplyRow.id], set_=state).cte("reply_written")
    event = {"reply_id": r["id"], "state": r["state"], "error": r["error"], "at": r["updated_at"]}
    # One statement: the event's foreign key is checked at its end, when the reply is there.
    return insert(DeliveryEvent).values(event).on_conflict_do_nothing().add_cte(written)


REPLY_STATE = ("state", "attempts", "provider_id", "error", "updated_at")  # what a later write of a reply changes


def _bound(model: type[Base], prefix: str, attributes: Sequence[str]) -> dict[str, BindParameter[Any]]:
    """A bind parameter per attribute, typed as its column (JSONB, arrays and times need their types)."""
    columns = model.__mapper__.columns
    return {a: bindparam(f"{prefix}{a}", type_=columns[a].type) for a in attributes}


def _insert_unless(model: type[Base], values: dict[str, ColumnElement[Any]], unless: Exists | None) -> Insert:
    """`INSERT ... SELECT values [WHERE NOT unless]`: an insert that a condition in the same statement can stop.
    Columns not in `values` take their server defaults (SQLAlchemy's Python-side ones do not reach a SELECT)."""
    row = select(*values.values())
    return insert(model).from_select(
        list(values), row if unless is None else row.where(~unless), include_defaults=False
    )


def _warn_if_collided(conversation_id: str, reference: str) -> None:
    if reference != conversation_reference(conversation_id):
        log.warning("conversation %s: reference collided, recorded as %s", conversation_id, reference)


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
