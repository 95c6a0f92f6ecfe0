"""Read RFC 3464 delivery status notifications: who bounced, why, and which of our messages came back."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from ingest.email.headers import message_ids, raw_header

_FIELDS = {
    "final-recipient": "final_recipient",
    "original-recipient": "original_recipient",
    "action": "action",
    "status": "status",
    "diagnostic-code": "diagnostic",
}


@dataclass
class DeliveryReport:
    has_status_part: bool = False
    recipients: list[dict[str, str]] = field(default_factory=list)
    returned_message_id: str | None = None

    def merge(self, other: DeliveryReport) -> None:
        self.has_status_part = self.has_status_part or other.has_status_part
        self.recipients += other.recipients
        self.returned_message_id = self.returned_message_id or other.returned_message_id


def _field(block: Message, name: str) -> str | None:
    raw = raw_header(block, name)
    if raw is None:
        return None
    value = " ".join(raw.decode("utf-8", "replace").split())
    # "rfc822; alice@example.com" -> "alice@example.com"; "smtp; 550 5.1.1 unknown user" -> "550 5.1.1 unknown user"
    if name in ("final-recipient", "original-recipient", "diagnostic-code") and ";" in value:
        value = value.split(";", 1)[1].strip()
    return value


def read_delivery_status(part: Message) -> list[dict[str, str]]:
    """One dict per recipient block of a message/delivery-status part (the first block is per-message)."""
    payload = part.get_payload()
    blocks = [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
    found: list[dict[str, str]] = []
    for block in blocks:
        entry = {key: value for name, key in _FIELDS.items() if (value := _field(block, name)) is not None}
        if "final_recipient" in entry:
            entry["final_recipient"] = entry["final_recipient"].lower()
            found.append(entry)
    return found


def returned_message_id(headers: bytes) -> str | None:
    """The Message-ID in a text/rfc822-headers part (the returned message's header block)."""
    parsed = BytesHeaderParser(policy=compat32).parsebytes(headers)
    return next(iter(message_ids(raw_header(parsed, "Message-ID"))), None)
