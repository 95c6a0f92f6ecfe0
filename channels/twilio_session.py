"""WhatsApp's customer-service window: free-form replies only within 24 hours of the customer's last message.

The web app records the time of each inbound WhatsApp message per number; the sender reads it. One key per number
(`hl:twilio:wa_last_inbound:+E164`), expiring soon after the window would have closed anyway.
https://www.twilio.com/docs/whatsapp/key-concepts#the-24-hour-window-or-24-hour-session
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.store import Store, store_errors


def _key(store: Store, e164: str) -> str:
    return store.key("twilio", "wa_last_inbound", e164)


def record_inbound(store: Store, e164: str, at: datetime, keep_seconds: int = 3 * 86400) -> None:
    """Keep the latest inbound time only (a Twilio retry of an older message must not move it back)."""
    key = _key(store, e164)
    with store_errors(), store.redis.pipeline() as pipe:
        pipe.zadd(key, {"last": at.timestamp()}, gt=True)
        pipe.expire(key, keep_seconds)
        pipe.execute()


def last_inbound(store: Store, e164: str) -> datetime | None:
    with store_errors():
        score = store.redis.zscore(_key(store, e164), "last")
    return datetime.fromtimestamp(float(score), UTC) if score is not None else None
