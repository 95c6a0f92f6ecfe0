"""Voicemails waiting for their transcript.

Twilio calls the `<Record>` action as soon as the caller hangs up, and the transcription callback a minute or more
later. To route one envelope with the transcript in it, the recording is parked here (durably, in Redis) until its
transcript arrives; `due` lists the ones whose transcript is overdue, which are then routed without it. `claim` is
atomic, so the transcription callback and an overdue sweep can race and exactly one of them wins.

Keys: `hl:twilio:parked:{RecordingSid}` (JSON) and `hl:twilio:parked` (zset of RecordingSids by parking time).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.store import Store, store_errors


def park(store: Store, recording_sid: str, payload: dict[str, Any], at: datetime) -> None:
    with store_errors(), store.redis.pipeline() as pipe:  # MULTI/EXEC: never an index entry without its payload
        pipe.set(store.key("twilio", "parked", recording_sid), json.dumps(payload, ensure_ascii=False))
        pipe.zadd(store.key("twilio", "parked"), {recording_sid: at.timestamp()})
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


def due(store: Store, parked_before: datetime, limit: int = 50) -> list[str]:
    with store_errors():
        ids = store.redis.zrangebyscore(store.key("twilio", "parked"), "-inf", parked_before.timestamp(), 0, limit)
    return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
