"""A call to one `voice` envelope: a voicemail (the `<Record>` action callback, plus its transcription when there is
one), or a call that ended before the beep (the call status callback).

One call, one message: every voice envelope's provider id is the **CallSid**, so the store's dedupe ledger
(`dedupe:voice:{CallSid}`) holds one entry per call whichever callback comes first, and Twilio's retries of any of
them are duplicates. The RecordingSid is kept in `extras["recording_sid"]` and names the recording's attachment; it
keys only the wait for a transcript (ingest/twilio/voicemail_parking.py).

Record action fields: https://www.twilio.com/docs/voice/twiml/record#attributes-action-parameters
Transcription callback: https://www.twilio.com/docs/voice/twiml/record#attributes-transcribe-callback
Call status callback: https://www.twilio.com/docs/voice/api/call-resource#statuscallback
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from core.envelope import Attachment, Channel, Envelope, Party
from core.language import reply_language
from core.phone import NotAPhoneNumber, number_or_raw, parse_address

ANONYMOUS = "anonymous"
SUBJECTS = {"en": ("Voicemail", "Call ended before a message was left"), "zh": ("语音留言", "来电未留言")}


def call_id(form: Mapping[str, str]) -> str:
    """The envelope's provider id: the CallSid (every voice callback carries it), else the RecordingSid."""
    sid = form.get("CallSid") or form.get("RecordingSid")
    if not sid:
        raise KeyError("CallSid")
    return sid


def voicemail_envelope(
    recording: Mapping[str, str],
    transcription: Mapping[str, str] | None,
    *,
    language: str,
    category: str | None,
    default_region: str = "US",
    received_at: datetime | None = None,
) -> Envelope:
    """`recording` is the Record action form; `transcription` the transcribeCallback form, if one came."""
    recording_sid = recording["RecordingSid"]
    transcript = ""
    extras = _call_extras(recording) | {
        "recording_sid": recording_sid,
        "recording_duration": recording.get("RecordingDuration", ""),
    }
    if transcription is not None:
        status = transcription.get("TranscriptionStatus", "")
        extras["transcription_status"] = status
        if status == "completed":
            transcript = transcription.get("TranscriptionText", "").strip()
    url = recording.get("RecordingUrl") or (transcription or {}).get("RecordingUrl", "")
    envelope = _voice_envelope(recording, language, category, default_region, extras, subject_index=0)
    envelope.text = transcript
    envelope.attachments = _recording_attachment(recording_sid, url)
    if received_at is not None:
        envelope.received_at = received_at
    return envelope


def missed_call_envelope(
    status: Mapping[str, str],
    *,
    language: str,
    category: str | None,
    default_region: str = "US",
) -> Envelope:
    """A completed call that left no recording (the caller hung up in the menu or before the beep): agents call back."""
    extras = _call_extras(status) | {"missed_call": True, "call_duration": status.get("CallDuration", "")}
    return _voice_envelope(status, language, category, default_region, extras, subject_index=1)


def _voice_envelope(
    form: Mapping[str, str],
    language: str,
    category: str | None,
    default_region: str,
    extras: dict[str, object],
    subject_index: int,
) -> Envelope:
    caller = _caller(form.get("From", ""), default_region)
    envelope = Envelope(
        channel=Channel.VOICE,
        provider_id=call_id(form),
        sender=Party(address=caller),
        recipient=Party(address=number_or_raw(form.get("To", ""), default_region)),
        subject=SUBJECTS[reply_language(language)][subject_index],
        language=language,
        chosen_category=category,
        extras=extras,
    )
    if caller == ANONYMOUS:
        envelope.suppress_ack_reason = "caller id withheld"
    return envelope


def _call_extras(form: Mapping[str, str]) -> dict[str, object]:
    return {"call_sid": form.get("CallSid", ""), "to": form.get("To", ""), "from": form.get("From", "")}


def _recording_attachment(recording_sid: str, url: str) -> list[Attachment]:
    if not url:
        return []
    # Without an extension Twilio serves WAV; `.mp3` is a tenth of the size for an agent's browser.
    return [Attachment(filename=f"{recording_sid}.mp3", content_type="audio/mpeg", url=url + ".mp3")]


def _caller(raw: str, default_region: str) -> str:
    try:
        return parse_address(raw, default_region).e164
    except NotAPhoneNumber:
        return ANONYMOUS
