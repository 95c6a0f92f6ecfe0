"""Voicemails waiting for their transcript, and the sweep that routes them when it never comes.

Twilio calls the `<Record>` action as soon as the caller hangs up, and the transcription callback a minute or more
later. To route one envelope with the transcript in it, the recording is parked here (durably, in Redis) until its
transcript arrives; `sweep_overdue_voicemails` (run by the scheduler every interval, `helpline serve scheduler`)
routes the ones whose transcript is overdue without it. `claim` is atomic, so the transcription callback and the
sweep can race and exactly one of them wins; a transcript that loses is merged into the stored message.

Keys: `hl:twilio:parked:{RecordingSid}` (JSON), `hl:twilio:parked` (zset of RecordingSids by parking time) and
`hl:twilio:parked_call:{CallSid}` -> RecordingSid, which tells the call status callback that a call which looks
unrecorded (nothing stored under its CallSid yet) did leave a voicemail. It outlives the parking by a day.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from core.records import utcnow
from core.settings import Settings
from core.store import Store, store_errors, text
from ingest.twilio.voice_intake import accept_voicemail

CALL_MARK_SECONDS = 86400
SWEEP_BATCH = 50


def park(store: Store, recording_sid: str, payload: dict[str, Any], at: datetime) -> None:
    """Park `payload` ({"recording": form, "lang": …, "category": …}) until its transcript or the sweep takes it."""
    call_sid = str(payload.get("recording", {}).get("CallSid") or "")
    with store_errors(), store.redis.pipeline() as pipe:  # MULTI/EXEC: never an index entry without its payload
        pipe.set(store.key("twilio", "parked", recording_sid), json.dumps(payload, ensure_ascii=False))
        pipe.zadd(store.key("twilio", "parked"), {recording_sid: at.timestamp()})
        if call_sid:
            pipe.set(store.key("twilio", "parked_call", call_sid), recording_sid, ex=CALL_MARK_SECONDS)
        pipe.execute()


def claim(store: Store, recording_sid: str) -> dict[str, Any] | None:
    """Take a parked recording out; None when it is not (or no longer) parked."""
    key = store.key("twilio", "parked", recording_sid)
    with store_errors(), store.redis.pipeline() as pipe:
        pipe.get(key)
        pipe.delete(key)
        pipe.zrem(store.key("twilio", "parked"), recording_sid)
        value, deleted, _ = pipe.execute()
    if not deleted or value is None:
        return None
    payload: dict[str, Any] = json.loads(value)
    return payload


def due(store: Store, parked_before: datetime, limit: int = SWEEP_BATCH) -> list[str]:
    with store_errors():
        ids = store.redis.zrangebyscore(store.key("twilio", "parked"), "-inf", parked_before.timestamp(), 0, limit)
    return [text(i) for i in ids]


def was_parked(store: Store, call_sid: str) -> bool:
    """Whether a recording of this call was parked (it may since have been routed)."""
    with store_errors():
        return bool(store.redis.exists(store.key("twilio", "parked_call", call_sid)))


def sweep_overdue_voicemails(settings: Settings, store: Store) -> int:
    """Route every voicemail parked longer than `[twilio.ivr] transcription_wait_seconds`, without its transcript."""
    cutoff = utcnow() - timedelta(seconds=settings.twilio.ivr.transcription_wait_seconds)
    routed = 0
    while True:
        batch = due(store, cutoff)
        for sid in batch:
            parked = claim(store, sid)
            if parked is None:
                continue  # its transcript won the race
            try:
                category = parked.get("category") or None
                accept_voicemail(settings, store, parked["recording"], None, parked.get("lang", "en"), category)
            except Exception:
                park(store, sid, parked, cutoff)  # put it back for the next pass rather than lose it
                raise
            routed += 1
        if len(batch) < SWEEP_BATCH:
            return routed
