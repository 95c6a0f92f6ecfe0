"""Cases flagged for a supervisor: a low satisfaction score with a comment (`low_score`), a reply that could not be
sent (`send_failed`). Each kind is a zset `hl:flagged:{kind}` of conversation ids scored by when they were flagged,
so `helpline flagged` (and anything else a supervisor uses) reads the newest first; the record keeps the same flag
on the case (`conversations.flags`), written by a record-update job (workers/case_flags.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from core.record_queue import RECORD_QUEUE
from core.store import JOB_RETRY, Store, store_errors, text

FLAG_JOB = "workers.case_flags.record_case_flag"


class Flag(StrEnum):
    LOW_SCORE = "low_score"
    SEND_FAILED = "send_failed"


@dataclass(frozen=True)
class Flagged:
    conversation_id: str
    kind: Flag
    at: datetime


def flag_case(store: Store, conversation_id: str, kind: Flag, at: datetime) -> None:
    """Flag the case in Redis (at once, for supervisors) and queue the same flag for the record."""
    with store_errors():
        store.redis.zadd(store.key("flagged", kind.value), {conversation_id: at.timestamp()}, nx=True)
        store.queue(RECORD_QUEUE).enqueue_call(
            FLAG_JOB, args=(conversation_id, kind.value, at.isoformat()), retry=JOB_RETRY
        )


def flagged(store: Store, kinds: tuple[Flag, ...] = tuple(Flag)) -> list[Flagged]:
    """Flagged cases, newest first."""
    found: list[Flagged] = []
    with store_errors():
        for kind in kinds:
            entries: list[tuple[bytes, float]] = store.redis.zrange(  # type: ignore[assignment]
                store.key("flagged", kind.value), 0, -1, withscores=True
            )
            found += [Flagged(text(member), kind, datetime.fromtimestamp(float(at), UTC)) for member, at in entries]
    return sorted(found, key=lambda f: f.at, reverse=True)


def clear_flag(store: Store, conversation_id: str, kind: Flag) -> bool:
    """A supervisor has seen to it: the case leaves the list (the record keeps the flag, as history)."""
    with store_errors():
        return bool(store.redis.zrem(store.key("flagged", kind.value), conversation_id))
