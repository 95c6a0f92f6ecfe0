"""What a caller chose in the voice menu, per call, for the callbacks that carry no menu state.

The menu's own callbacks carry the language and category in their query (ingest/twilio/ivr.py), but the call status
callback is configured once per number in the Twilio console, so a call that ends before the beep finds the caller's
choice here. Key: `hl:twilio:call:{CallSid}` (hash: lang, category), kept for a day.
"""

from __future__ import annotations

from core.store import Store, store_errors, text

KEEP_SECONDS = 86400


def remember_choice(store: Store, call_sid: str, lang: str, category: str | None) -> None:
    key = store.key("twilio", "call", call_sid)
    with store_errors(), store.redis.pipeline() as pipe:
        pipe.hset(key, mapping={"lang": lang, "category": category or ""})
        pipe.expire(key, KEEP_SECONDS)
        pipe.execute()


def choice(store: Store, call_sid: str) -> tuple[str | None, str | None]:
    """(language, category) the caller picked, each None when unknown."""
    with store_errors():
        data = store.redis.hgetall(store.key("twilio", "call", call_sid))
    fields = {text(k): text(v) for k, v in data.items()}
    return fields.get("lang") or None, fields.get("category") or None
