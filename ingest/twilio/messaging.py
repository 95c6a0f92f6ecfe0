"""Inbound SMS, MMS and WhatsApp webhooks (`POST /twilio/sms`) to envelopes.

Fields: https://www.twilio.com/docs/messaging/guides/webhook-request (WhatsApp adds ProfileName, WaId, and
Latitude/Longitude for shared locations).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from datetime import datetime

from core.envelope import Attachment, Channel, Envelope, Party
from core.language import detect_language
from core.phone import number_or_raw, parse_address
from ingest.twilio.keywords import KeywordAction, keyword_in

# Kept in `extras` for agents; the rest of the form is in the raw payload.
_EXTRA_FIELDS = (
    "AccountSid",
    "MessagingServiceSid",
    "NumSegments",
    "ProfileName",
    "WaId",
    "FromCity",
    "FromState",
    "FromCountry",
    "Latitude",
    "Longitude",
    "Address",
    "Label",
    "ButtonText",
    "ButtonPayload",
    "OriginalRepliedMessageSid",
)


def message_envelope(
    form: Mapping[str, str],
    *,
    default_region: str = "US",
    default_language: str = "en",
    received_at: datetime | None = None,
) -> Envelope:
    """Build the envelope for one inbound message; raises NotAPhoneNumber / KeyError on a malformed payload.

    The sender must be a phone number (it is who we answer and the contact's identity); the recipient may be a short
    code (`89898`) or an alphanumeric id, kept as sent: replies then go out from that same value.
    """
    sender = parse_address(form["From"], default_region)
    recipient = number_or_raw(form["To"], default_region)
    text = form.get("Body", "")
    extras: dict[str, str] = {"to": form["To"], "from": form["From"]}
    extras |= {_snake(name): form[name] for name in _EXTRA_FIELDS if form.get(name)}
    envelope = Envelope(
        channel=Channel.WHATSAPP if sender.whatsapp else Channel.SMS,
        provider_id=form["MessageSid"],
        sender=Party(address=sender.e164, name=form.get("ProfileName") or None),
        recipient=Party(address=recipient),
        text=text,
        language=detect_language(text, default_language),
        attachments=_media(form),
        extras=extras,
    )
    if received_at is not None:
        envelope.received_at = received_at
    keyword = keyword_in(text)
    if keyword is not None:
        action, word = keyword
        envelope.suppress_ack_reason = f"{action.value} keyword {word}"
        envelope.extras["keyword_action"] = action.value
    return envelope


def keyword_action(envelope: Envelope) -> KeywordAction | None:
    value = envelope.extras.get("keyword_action")
    return KeywordAction(value) if value else None


def _media(form: Mapping[str, str]) -> list[Attachment]:
    count = int(form.get("NumMedia", "0") or 0)
    attachments = []
    for i in range(count):
        url = form.get(f"MediaUrl{i}")
        if not url:
            continue
        content_type = form.get(f"MediaContentType{i}") or "application/octet-stream"
        extension = mimetypes.guess_extension(content_type) or ""
        # Twilio media URLs end in the media SID (ME…); it makes a stable, unique file name.
        filename = url.rstrip("/").rsplit("/", 1)[-1] + extension
        attachments.append(Attachment(filename=filename, content_type=content_type, url=url))
    return attachments


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))
