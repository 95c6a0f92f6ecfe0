"""What the store keeps besides the envelope: the stored message, its replies, contacts and conversations."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from core.envelope import Channel, Decision, Envelope


def utcnow() -> datetime:
    return datetime.now(UTC)


class MessageState(StrEnum):
    RECEIVED = "received"  # stored, waiting for the pipeline
    ROUTED = "routed"  # decision made, on an agents' queue
    DROPPED = "dropped"  # a pipeline step dropped it (our own loop); kept for audit


class StoredMessage(BaseModel):
    id: str
    envelope: Envelope
    state: MessageState = MessageState.RECEIVED
    contact_id: str | None = None
    conversation_id: str | None = None
    decision: Decision | None = None
    drop_reason: str | None = None
    ack_status: str | None = Field(None, description="sent, suppressed:<why>, failed:<why>")
    notes: list[str] = Field(default_factory=list, description="what happened to it, for agents and audit")
    stored_at: datetime = Field(default_factory=utcnow)


class ReplyState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


# The purpose of a reply an agent wrote; the others (an acknowledgement, a follow-up's, a survey) are templates'.
ANSWER = "answer"


class Reply(BaseModel):
    """An outbound message: an acknowledgement, an agent's answer or a survey."""

    id: str
    message_id: str = Field(description="the stored inbound message this answers")
    channel: Channel
    to: str
    purpose: str
    language: str
    subject: str = ""
    text: str
    state: ReplyState = ReplyState.QUEUED
    attempts: int = 0
    provider_id: str | None = None
    error: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    extras: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DeadLetter(BaseModel):
    id: str
    channel: Channel
    error: str
    meta: dict[str, Any] = Field(default_factory=dict)
    received_at: datetime = Field(default_factory=utcnow)
    attempts: int = 1
