"""The one envelope every channel adapter produces, and the routing decision made about it.

An adapter's job ends when it returns an `Envelope`; everything downstream (store, router, workers) reads only this.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    VOICE = "voice"
    TELEGRAM = "telegram"


class Priority(StrEnum):
    """Declared most urgent first: `Priority.rank` and queue order rely on it."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        return list(Priority).index(self)


class Party(BaseModel):
    """A sender or recipient: an email address, an E.164 number, or a Telegram chat/user id."""

    model_config = ConfigDict(frozen=True)

    address: str
    name: str | None = None


class Attachment(BaseModel):
    filename: str | None = None
    content_type: str = "application/octet-stream"
    size: int = 0
    inline: bool = False
    content_id: str | None = None
    # Base64 content is kept only under the configured cap; `url` is for media a provider hosts (Twilio, Telegram).
    content_b64: str | None = None
    truncated: bool = False
    url: str | None = None
    # Where the record keeps the content once the pipeline wrote it (record/attachments.py); `content_b64` is then
    # dropped from the hot copy.
    ref: str | None = None


class Envelope(BaseModel):
    """A normalised inbound message, channel-agnostic."""

    channel: Channel
    provider_id: str = Field(description="Message-ID, MessageSid, CallSid, RecordingSid or Telegram update id")
    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    sender: Party
    recipient: Party | None = None
    # Every other support address the same message reached (more SMTP recipients, other To/Cc addresses): a mail
    # to support@ that Ccs fraud@ must match a rule about fraud@ whatever the order of the addresses.
    other_recipients: list[str] = Field(default_factory=list)
    subject: str = ""
    text: str = ""
    language: str = "en"
    attachments: list[Attachment] = Field(default_factory=list)
    # Email threading; other channels thread by contact.
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    # Loop and noise flags: such messages are stored and routed but never acknowledged.
    auto_submitted: bool = False
    bounce: bool = False
    mailing_list: bool = False
    flag_reasons: list[str] = Field(default_factory=list)
    # Set by an adapter when the customer picked a category themselves (IVR digit, Telegram button):
    # the router takes it as given instead of guessing from keywords.
    chosen_category: str | None = None
    # Set by an adapter when this message must never be acknowledged (SMS STOP/HELP keywords, for example).
    suppress_ack_reason: str | None = None
    # Set by an adapter for a message that is not a support request (a bot command such as /start, a shared
    # contact): it is stored for audit and dedupe, then dropped by the pipeline instead of reaching agents.
    service: str | None = None
    extras: dict[str, Any] = Field(default_factory=dict, description="channel-specific fields kept for agents")

    @property
    def dedupe_key(self) -> str:
        return f"{self.channel.value}:{self.provider_id}"

    @property
    def no_auto_reply_reason(self) -> str | None:
        """Why this message must not get an automatic reply, or None."""
        if self.suppress_ack_reason:
            return self.suppress_ack_reason
        if self.auto_submitted or self.bounce or self.mailing_list:
            return ", ".join(self.flag_reasons) or "automatic message"
        return None


class Decision(BaseModel):
    """Where a message goes and why; stored with the message."""

    category: str
    priority: Priority
    queue: str
    reasons: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    template: str = "acknowledgement"
    suppress_ack: bool = False
    trace: list[dict[str, Any]] = Field(default_factory=list)
    # Why an agent should check the category (the triage model was unsure), or None.
    review: str | None = None
