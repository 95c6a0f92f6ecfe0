"""Dead-lettered Twilio webhooks back into envelopes, for `helpline replay` (workers/replay.py `REPARSERS`).

The web app dead-letters a webhook it cannot turn into an envelope (a sender that is no phone number under the
current `[twilio] default_region`, a missing field) with the form body as received and this meta:
`{"endpoint": "/twilio/sms" | "/twilio/voice/recording" | …, "query": {"lang": …, "category": …}}`.
After a fix (a setting, a code change), replay parses the same body again as the endpoint would have.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from core.envelope import Envelope
from core.settings import Settings
from ingest.twilio import ivr
from ingest.twilio.messaging import message_envelope
from ingest.twilio.voicemail import missed_call_envelope, voicemail_envelope

SMS_PATH = "/twilio/sms"


def parse_form(raw: bytes) -> dict[str, str]:
    """A webhook's form body (Twilio posts application/x-www-form-urlencoded UTF-8); ValueError if it is not."""
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError as exc:
        raise ValueError(f"form body is not UTF-8: {exc}") from None


def dead_letter_meta(endpoint: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    return {"endpoint": endpoint, "query": dict(query or {})}


def reparse_message(raw: bytes, meta: dict[str, Any], settings: Settings) -> Envelope:
    """SMS, MMS and WhatsApp (`/twilio/sms`); the channel comes from the `whatsapp:` prefix, as on arrival."""
    return message_envelope(
        parse_form(raw),
        default_region=settings.twilio.default_region,
        default_language=settings.replies.default_language,
    )


def reparse_voice(raw: bytes, meta: dict[str, Any], settings: Settings) -> Envelope:
    """A recording, transcription or call status callback, with the menu choice its query carried."""
    form = parse_form(raw)
    query = meta.get("query") or {}
    lang = str(query.get("lang") or settings.replies.default_language)
    category = str(query.get("category") or "") or None
    region = settings.twilio.default_region
    endpoint = meta.get("endpoint") or ivr.RECORDING_PATH
    if endpoint == ivr.CALL_STATUS_PATH:
        return missed_call_envelope(form, language=lang, category=category, default_region=region)
    transcription = form if endpoint == ivr.TRANSCRIPTION_PATH else None
    return voicemail_envelope(form, transcription, language=lang, category=category, default_region=region)
