"""A voicemail (the `<Record>` action callback, plus its transcription when there is one) to one `voice` envelope.

Record action fields: https://www.twilio.com/docs/voice/twiml/record#attributes-action-parameters
Transcription callback: https://www.twilio.com/docs/voice/twiml/record#attributes-transcribe-callback
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from core.envelope import Attachment, Channel, Envelope, Party
from core.phone import NotAPhoneNumber, parse_address

ANONYMOUS = "anonymous"


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
    caller = _caller(recording.get("From", ""), default_region)
    transcript = ""
    extras: dict[str, str] = {
        "call_sid": recording.get("CallSid", ""),
        "to": recording.get("To", ""),
        "from": recording.get("From", ""),
        "recording_duration": recording.get("RecordingDuration", ""),
    }
    if transcription is not None:
        status = transcription.get("TranscriptionStatus", "")
        extras["transcription_status"] = status
        if status == "completed":
            transcript = transcription.get("TranscriptionText", "").strip()
    url = recording.get("RecordingUrl") or (transcription or {}).get("RecordingUrl", "")
    envelope = Envelope(
        channel=Channel.VOICE,
        provider_id=recording["RecordingSid"],
        sender=Party(address=caller),
        recipient=Party(address=_number_or_raw(recording.get("To", ""), default_region)),
        subject="Voicemail" if language == "en" else "语音留言",
        text=transcript,
        language=language,
        attachments=_recording_attachment(recording["RecordingSid"], url),
        chosen_category=category,
        extras=extras,
    )
    if received_at is not None:
        envelope.received_at = received_at
    if caller == ANONYMOUS:
        envelope.suppress_ack_reason = "caller id withheld"
    return envelope


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


def _number_or_raw(raw: str, default_region: str) -> str:
    try:
        return parse_address(raw, default_region).e164
    except NotAPhoneNumber:
        return raw
