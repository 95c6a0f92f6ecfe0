"""Voice calls into the store: a voicemail, with or without its transcript, and a call that left no recording.

Both are keyed by CallSid (ingest/twilio/voicemail.py), so whichever part of a call arrives second finds the first
as a duplicate and is merged into it instead of becoming a second message:
- a transcript that comes after the recording was routed without it (the overdue sweep) fills the empty text;
- a recording that comes after the call status callback stored the call as missed (the two callbacks raced) adds
  the recording and clears `missed_call`.
What is merged is masked by the store on its way in (`Store.update_message` seals every write, core/content_gate.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from core.envelope import Envelope
from core.record_queue import Item, queue_update
from core.records import StoredMessage
from core.settings import Settings
from core.store import Accepted, Store
from ingest.twilio.voicemail import missed_call_envelope, voicemail_envelope

log = logging.getLogger("helpline.ingest.twilio")


def accept_voicemail(
    settings: Settings,
    store: Store,
    recording: Mapping[str, str],
    transcription: Mapping[str, str] | None,
    lang: str,
    category: str | None,
) -> Accepted:
    envelope = voicemail_envelope(
        recording, transcription, language=lang, category=category, default_region=settings.twilio.default_region
    )
    raw = json.dumps({"recording": recording, "transcription": transcription}, ensure_ascii=False).encode()
    accepted = store.accept(envelope, raw)
    if accepted.duplicate:
        store.update_message(accepted.message_id, lambda message: merge_call(message, envelope))
        queue_update(store, Item.MESSAGE, accepted.message_id)  # a transcript after routing: the record follows
    log.info(
        "twilio voicemail %s (call %s) stored as %s%s",
        envelope.extras.get("recording_sid"),
        envelope.provider_id,
        accepted.message_id,
        " (merged into the call's message)" if accepted.duplicate else "",
    )
    return accepted


def accept_missed_call(
    settings: Settings, store: Store, status: Mapping[str, str], lang: str, category: str | None
) -> Accepted:
    envelope = missed_call_envelope(
        status, language=lang, category=category, default_region=settings.twilio.default_region
    )
    raw = json.dumps({"call_status": status}, ensure_ascii=False).encode()
    accepted = store.accept(envelope, raw)
    log.info(
        "twilio call %s ended without a recording: stored as %s%s",
        envelope.provider_id,
        accepted.message_id,
        " (duplicate)" if accepted.duplicate else "",
    )
    return accepted


def merge_call(message: StoredMessage, fresh: Envelope) -> None:
    """Fill in what the stored message of a call lacks from a later callback of the same call (the store masks it)."""
    stored = message.envelope
    if fresh.attachments and not stored.attachments:
        stored.attachments = fresh.attachments
        stored.subject, stored.language = fresh.subject, fresh.language  # the menu's language beats the default
        stored.extras["missed_call"] = False
        message.notes.append("the caller's recording arrived after the call was stored as missed")
    if fresh.text and not stored.text:
        stored.text = fresh.text
        message.notes.append("transcript added after the voicemail was routed")
    if fresh.chosen_category and not stored.chosen_category:
        stored.chosen_category = fresh.chosen_category
    masked = sorted(set(stored.extras.get("masked") or []) | set(fresh.extras.get("masked") or []))
    stored.extras.update({key: value for key, value in fresh.extras.items() if value and not stored.extras.get(key)})
    if masked:
        stored.extras["masked"] = masked
