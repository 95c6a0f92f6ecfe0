"""The one gate every stored copy of customer content passes through before it reaches Redis.

`Store` (core/store.py) writes a message, its raw payload and a dead letter only through these functions, in its
private `_put_*` helpers, so a new write path (an update, an edit, a merge) cannot forget to mask:
- `seal_message`: the envelope masked (`mask_envelope`) and the message's notes too; the kinds found join
  `extras["masked"]`, which the acknowledgement's warning reads.
- `seal_raw`: the raw payload of a stored message, kept as it came only when neither the message nor the payload
  itself carries a secret; otherwise nothing of it is kept (the masked envelope is complete; the raw copy only
  serves audits).
- `seal_text`: a free text an agent writes about a case (an internal note, which may quote what the customer sent):
  masked like a message's text before the record keeps it.
- `seal_dead_letter`: a dead letter keeps its payload for `helpline replay`, with the secrets in its text-like parts
  masked (core/payload_masking.py), and its error and metadata masked. A replay works on the masked text, which is
  all routing needs.

Masking is idempotent (masked text has nothing left to find), so sealing a message again on every update is safe.
Binary content (images, PDFs, voice recordings) cannot be scanned: see the README's Security section.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from core.envelope import Attachment, Channel, Envelope, Party
from core.payload_masking import MaskedPayload, html_has_secret, mask_file, mask_payload, mask_text, payload_kind
from core.records import DeadLetter, StoredMessage

TWILIO_CHANNELS = {Channel.SMS, Channel.WHATSAPP, Channel.VOICE}
# Transport facts in a dead letter's metadata that replay needs exactly as they were (where the mail was addressed).
_TRANSPORT_KEYS = {"mail_from", "rcpt_tos"}


def mask_envelope(envelope: Envelope) -> Envelope:
    """The envelope with secrets masked in its subject, text, the sender's and recipient's names, every text in its
    extras (quoted text, signature, forwarded mails, transcripts) and the content of its text-like attachments;
    `extras["masked"]` names the kinds found, added to the kinds masked before.

    The sanitised HTML copy is dropped when it or anything else held a secret: masking inside markup is not worth
    the risk of a miss, and the text is what agents read. Identifiers (addresses, provider ids, Message-IDs) are
    left alone: threading, dedupe and replies need them as they are.
    """
    kinds: list[str] = []

    def mask(value: Any) -> Any:
        if isinstance(value, str):
            return mask_text(value, kinds)
        if isinstance(value, dict):
            return {key: value[key] if key == "html" else mask(value[key]) for key in value}
        if isinstance(value, list):
            return [mask(item) for item in value]
        return value

    subject, text, extras = mask(envelope.subject), mask(envelope.text), mask(dict(envelope.extras))
    sender, recipient = _party(envelope.sender, kinds), envelope.recipient and _party(envelope.recipient, kinds)
    attachments = [_attachment(attachment, kinds) for attachment in envelope.attachments]
    html = extras.get("html")
    if isinstance(html, str) and html:
        kinds.extend(html_has_secret(html))
    if not kinds:
        return envelope
    if html:
        extras["html"] = None
    extras["masked"] = sorted(set(kinds) | set(envelope.extras.get("masked") or []))
    return envelope.model_copy(
        update={
            "subject": subject,
            "text": text,
            "extras": extras,
            "sender": sender,
            "recipient": recipient,
            "attachments": attachments,
        }
    )


def _party(party: Party, kinds: list[str]) -> Party:
    if not party.name:
        return party
    name = mask_text(party.name, kinds)
    return party if name == party.name else party.model_copy(update={"name": name})


def _attachment(attachment: Attachment, kinds: list[str]) -> Attachment:
    update: dict[str, Any] = {}
    if attachment.filename:
        filename = mask_text(attachment.filename, kinds)
        if filename != attachment.filename:
            update["filename"] = filename
    if attachment.content_b64:
        try:
            data = base64.b64decode(attachment.content_b64, validate=True)
        except (binascii.Error, ValueError):
            data = None
        masked = mask_file(data, attachment.content_type) if data is not None else MaskedPayload(b"")
        if masked.found:
            kinds.extend(masked.kinds)
            update |= {"content_b64": base64.b64encode(masked.data).decode("ascii"), "size": len(masked.data)}
    return attachment.model_copy(update=update) if update else attachment


def seal_message(message: StoredMessage, before: StoredMessage | None = None) -> StoredMessage:
    """The message as it may be stored. `before` is the stored (sealed) version it was changed from, if any: an
    envelope that did not change is not scanned again (a pipeline update touches state and decision, not content)."""
    envelope = message.envelope if before is not None and message.envelope == before.envelope else None
    if envelope is None:
        envelope = mask_envelope(message.envelope)
    kinds: list[str] = []
    notes = [mask_text(note, kinds) for note in message.notes]
    if kinds:
        extras = dict(envelope.extras)
        extras["masked"] = sorted(set(kinds) | set(extras.get("masked") or []))
        envelope = envelope.model_copy(update={"extras": extras})
    if envelope is message.envelope and not kinds:
        return message
    return message.model_copy(update={"envelope": envelope, "notes": notes})


def seal_text(value: str) -> tuple[str, list[str]]:
    """An agent's text (a note) as it may be stored, and the kinds of secret masked in it."""
    kinds: list[str] = []
    masked = mask_text(value, kinds)
    return masked, sorted(set(kinds))


def seal_raw(channel: Channel, raw: bytes, sealed: Envelope) -> tuple[bytes, str | None]:
    """The raw payload to keep beside a sealed message, and why it was not kept (None when it was)."""
    if sealed.extras.get("masked"):
        return b"", "the message carried a secret (" + ", ".join(sealed.extras["masked"]) + ")"
    masked = _mask_raw(channel, raw)
    if masked.found:
        return b"", "the payload carried a secret (" + ", ".join(masked.kinds) + ")"
    return raw, None


def seal_dead_letter(letter: DeadLetter, raw: bytes | None = None) -> tuple[DeadLetter, bytes | None]:
    """A dead letter and its payload as they may be stored: secrets masked in the payload's text-like parts, the
    error and the metadata; `meta["masked"]` names the kinds masked in the payload (a replay passes them on)."""
    kinds: list[str] = []
    error = mask_text(letter.error, kinds)
    meta = {key: value if key in _TRANSPORT_KEYS else _mask_value(value, kinds) for key, value in letter.meta.items()}
    if raw is not None:
        masked = _mask_raw(letter.channel, raw)
        raw = masked.data
        if masked.found:
            meta["masked"] = sorted(set(masked.kinds) | set(meta.get("masked") or []))
    if error == letter.error and meta == letter.meta:
        return letter, raw
    return letter.model_copy(update={"error": error, "meta": meta}), raw


def _mask_raw(channel: Channel, raw: bytes) -> MaskedPayload:
    kind = payload_kind(raw, email=channel is Channel.EMAIL, form=channel in TWILIO_CHANNELS)
    return mask_payload(kind, raw)


def _mask_value(value: Any, kinds: list[str]) -> Any:
    if isinstance(value, str):
        return mask_text(value, kinds)
    if isinstance(value, dict):
        return {key: _mask_value(item, kinds) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_value(item, kinds) for item in value]
    return value
