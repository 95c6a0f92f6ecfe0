"""The record's tables, as SQLAlchemy 2 declarative models. The migrations in `record/migrations` create them.

Ids are the ones Helpline already gives things in Redis (`c-…` contacts, `t-…` conversations, `m-…` messages,
`r-…` replies), so a row and its hot copy name each other and writing the same thing twice hits the same key.
Every time column is `timestamptz` filled from Python (never `now()` in SQL: tests drive the clock).
Text columns called `search_text` hold the folded form (NFKC, casefold, traditional → simplified) that search reads;
`search_bigrams` the one- and two-character pieces of its Chinese, for queries too short for trigrams.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints, so a migration can name what it alters and every database gets the same names.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Json = dict[str, Any]


def _time(nullable: bool = False) -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=nullable)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {Json: JSONB, list[str]: ARRAY(Text)}  # noqa: RUF012 (SQLAlchemy reads it as is)


class Contact(Base):
    """A person or organisation writing to support, whatever the channel."""

    __tablename__ = "contacts"
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    created_at: Mapped[datetime] = _time()
    language: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(default=list)
    # Per-channel states such as `sms_opted_out`, `whatsapp_opted_out`, `telegram_blocked`, as the hot store has them.
    attributes: Mapped[Json] = mapped_column(default=dict)
    erased_at: Mapped[datetime | None] = _time(nullable=True)
    # Mixed into the names of this contact's attachment files (record/attachments.py): the same file sent by two
    # contacts is two files, so erasing one contact never removes the other's. Made on the first attachment.
    attachment_salt: Mapped[bytes | None] = mapped_column(LargeBinary)


class ContactIdentity(Base):
    """One way to reach a contact: `email:a@b.example`, `phone:+8613…`, `telegram:42`. Unique across contacts."""

    __tablename__ = "identities"
    identity: Mapped[str] = mapped_column(Text, primary_key=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), index=True)
    created_at: Mapped[datetime] = _time()


class Conversation(Base):
    """A case: the messages of one request, with the reference its customer quotes."""

    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    reference: Mapped[str] = mapped_column(Text, unique=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), index=True)
    channel: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(Text, default="open")
    category: Mapped[str | None] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str | None] = mapped_column(Text)
    assigned_agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    linked_to: Mapped[str | None] = mapped_column(ForeignKey("conversations.id"))
    created_at: Mapped[datetime] = _time()
    last_message_at: Mapped[datetime | None] = _time(nullable=True)
    first_response_at: Mapped[datetime | None] = _time(nullable=True)
    resolved_at: Mapped[datetime | None] = _time(nullable=True)
    # When retention emptied the resolved case of its content (record/retention.py); its counts and times stay.
    anonymised_at: Mapped[datetime | None] = _time(nullable=True)
    # For a supervisor (core/case_flags.py): `low_score` (a low survey score with a comment), `send_failed`.
    flags: Mapped[list[str]] = mapped_column(default=list, server_default=text("'{}'"))
    __table_args__ = (Index(None, "created_at"), Index(None, "resolved_at"))


class ThreadReference(Base):
    """An email Message-ID that threads into a conversation (a customer's, or one of our own replies')."""

    __tablename__ = "thread_references"
    reference: Mapped[str] = mapped_column(Text, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    outbound: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _time()


class Message(Base):
    """An inbound message as the pipeline left it: masked text, routing decision and its trace, details found."""

    __tablename__ = "messages"
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    channel: Mapped[str] = mapped_column(Text)
    provider_id: Mapped[str] = mapped_column(Text)
    conversation_id: Mapped[str | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    state: Mapped[str] = mapped_column(Text)
    drop_reason: Mapped[str | None] = mapped_column(Text)
    sender: Mapped[str] = mapped_column(Text)
    sender_name: Mapped[str | None] = mapped_column(Text)
    recipient: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(Text, default="en")
    metadata_: Mapped[Json] = mapped_column("metadata", default=dict)
    decision: Mapped[Json | None] = mapped_column()
    trace: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    details: Mapped[Json | None] = mapped_column()
    notes: Mapped[list[str]] = mapped_column(default=list)
    search_text: Mapped[str] = mapped_column(Text, default="")
    search_bigrams: Mapped[list[str]] = mapped_column(default=list)
    received_at: Mapped[datetime] = _time()
    recorded_at: Mapped[datetime] = _time()
    __table_args__ = (
        # A message re-accepted after its dedupe key expired (or a Sentinel failover lost it) is caught here.
        UniqueConstraint("channel", "provider_id"),
        Index(None, "received_at"),
        Index("ix_messages_search_text_trgm", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}),
        Index("ix_messages_search_bigrams", "search_bigrams", postgresql_using="gin"),
    )  # fmt: skip


class AttachmentRow(Base):
    """Attachment `position` (0 = the first) of a message: its metadata, and `ref`, the name of its content in the
    attachment store (None when the content was not kept: over the size cap, or hosted by the provider)."""

    __tablename__ = "attachments"
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    filename: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    ref: Mapped[str | None] = mapped_column(Text, index=True)
    stored_at: Mapped[datetime] = _time()
    # When retention removed the file (the row stays, for the message's history).
    removed_at: Mapped[datetime | None] = _time(nullable=True)
    __table_args__ = (Index(None, "stored_at"),)


class Reply(Base):
    """An outbound message (an acknowledgement, an agent's answer, a survey) and its current delivery state."""

    __tablename__ = "replies"
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), index=True)
    conversation_id: Mapped[str | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    channel: Mapped[str] = mapped_column(Text)
    to_address: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_id: Mapped[str | None] = mapped_column(Text, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[Json] = mapped_column(default=dict)
    search_text: Mapped[str] = mapped_column(Text, default="")
    search_bigrams: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = _time()
    updated_at: Mapped[datetime] = _time()
    __table_args__ = (
        Index("ix_replies_search_text_trgm", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}),
        Index("ix_replies_search_bigrams", "search_bigrams", postgresql_using="gin"),
    )  # fmt: skip


class DeliveryEvent(Base):
    """Each delivery state a reply went through (queued, sent, delivered, failed), as it happened."""

    __tablename__ = "delivery_events"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    reply_id: Mapped[str] = mapped_column(ForeignKey("replies.id"), index=True)
    state: Mapped[str] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = _time()
    __table_args__ = (UniqueConstraint("reply_id", "state"),)


class Agent(Base):
    """A person who works cases (desk/agents.py). Passwords are argon2 hashes; the API token is kept as its SHA-256
    (a 256-bit random token needs no slow hash: nothing can be guessed from it). `session_version` goes up when the
    password or the token changes, which ends every session signed in before."""

    __tablename__ = "agents"
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text, unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _time()
    languages: Mapped[list[str]] = mapped_column(default=list, server_default="{}")
    queues: Mapped[list[str]] = mapped_column(default=list, server_default="{}")
    capacity: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    role: Mapped[str] = mapped_column(Text, default="agent", server_default="agent")
    away: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    password_hash: Mapped[str | None] = mapped_column(Text)
    token_hash: Mapped[str | None] = mapped_column(Text, unique=True)
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[datetime | None] = _time(nullable=True)
    __table_args__ = (
        CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="role"),
        CheckConstraint("capacity >= 0", name="capacity"),
    )


class Note(Base):
    """An agent's internal note on a conversation: never sent to the customer."""

    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    text: Mapped[str] = mapped_column(Text)
    search_text: Mapped[str] = mapped_column(Text, default="")
    search_bigrams: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = _time()
    __table_args__ = (
        Index("ix_notes_search_text_trgm", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}),
        Index("ix_notes_search_bigrams", "search_bigrams", postgresql_using="gin"),
    )  # fmt: skip


class AuditEntry(Base):
    """Who did what to which record, and when (exports, erasures, assignments...)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = _time()
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    subject_kind: Mapped[str | None] = mapped_column(Text)
    subject_id: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[Json] = mapped_column(default=dict)
    __table_args__ = (Index(None, "at"),)


class SurveyScore(Base):
    """A customer's satisfaction rating (1–5) of a conversation."""

    __tablename__ = "survey_scores"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    reply_id: Mapped[str | None] = mapped_column(ForeignKey("replies.id"), unique=True)
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = _time()
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)


class SlaEvent(Base):
    """A service-level result stored when it happens (met, breached, escalated), not recomputed later."""

    __tablename__ = "sla_events"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    conversation_id: Mapped[str | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[str | None] = mapped_column(ForeignKey("messages.id"))
    kind: Mapped[str] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None] = _time(nullable=True)
    at: Mapped[datetime] = _time()
    detail: Mapped[Json] = mapped_column(default=dict)
    __table_args__ = (Index(None, "at"),)


class Incident(Base):
    """An outage or known problem many customers write about (desk/incidents.py): open → answering (one supervisor
    is sending its answer; `answering_since` says since when) → resolved."""

    __tablename__ = "incidents"
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="open")
    started_at: Mapped[datetime] = _time()
    resolved_at: Mapped[datetime | None] = _time(nullable=True)
    detail: Mapped[Json] = mapped_column(default=dict)
    opened_by: Mapped[str | None] = mapped_column(Text)
    notice_id: Mapped[str | None] = mapped_column(Text)  # the customer notice it carries (core/notices.py)
    answered_by: Mapped[str | None] = mapped_column(Text)
    answering_since: Mapped[datetime | None] = _time(nullable=True)
    answer_en: Mapped[str | None] = mapped_column(Text)
    answer_zh: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint("status IN ('open', 'answering', 'resolved')", name="status"),
        Index(None, "started_at"),
    )


class IncidentCase(Base):
    """A case linked to an incident, and what the incident's answer did to it: `answered_at` is stamped (by one
    conditional UPDATE) before the answer goes, so no case is answered twice, whoever else answers the incident."""

    __tablename__ = "incident_cases"
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), primary_key=True, index=True)
    linked_by: Mapped[str] = mapped_column(Text)
    linked_at: Mapped[datetime] = _time()
    answered_at: Mapped[datetime | None] = _time(nullable=True)
    reply_id: Mapped[str | None] = mapped_column(Text)  # the answer sent (its `replies` row follows)
    outcome: Mapped[str | None] = mapped_column(Text)  # resolved, left open..., skipped...


class NoticeRecord(Base):
    """The history of the notices shown to customers (the active one lives in Redis)."""

    __tablename__ = "notices"
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    text_en: Mapped[str] = mapped_column(Text)
    text_zh: Mapped[str] = mapped_column(Text)
    starts: Mapped[datetime | None] = _time(nullable=True)
    until: Mapped[datetime | None] = _time(nullable=True)
    created_at: Mapped[datetime] = _time()
    withdrawn_at: Mapped[datetime | None] = _time(nullable=True)


class TriageModelRecord(Base):
    """Every triage model `helpline train` published: its bytes (router/text_model.py's .npz format) and how it was
    made. Redis holds the active copy for hot reload (core/model_store.py); the latest `activated_at` is the active
    one here, which a worker finding Redis empty loads (and announces there again)."""

    __tablename__ = "triage_models"
    version: Mapped[str] = mapped_column(Text, primary_key=True)
    model: Mapped[bytes] = mapped_column(LargeBinary)
    trained_at: Mapped[datetime] = _time()
    trained_by: Mapped[str] = mapped_column(Text)
    training_examples: Mapped[int] = mapped_column(Integer)
    held_out_examples: Mapped[int] = mapped_column(Integer)
    # Held-out accuracy per evaluation column (`keywords`, `current`, `new alone`, `new`) and language (`all`, ...).
    accuracy: Mapped[Json] = mapped_column(default=dict)
    activated_at: Mapped[datetime | None] = _time(nullable=True)
    __table_args__ = (Index(None, "activated_at"),)


class DataImport(Base):
    """Which numbered data imports `helpline migrate` has applied (schema versions are Alembic's own table)."""

    __tablename__ = "data_imports"
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    applied_at: Mapped[datetime] = _time()
    detail: Mapped[Json] = mapped_column(default=dict)
