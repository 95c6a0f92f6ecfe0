"""Work in flight: each stored message waiting for its pipeline and each reply waiting to be sent, indexed with the
RQ job that carries it until the work is done, so that work a dying worker took with it can be found and queued
again (workers/reconcile.py, run by the scheduler) whatever RQ's own bookkeeping recorded.

The entry is written in the same MULTI as the job it names (an item is never queued without its entry, nor indexed
without its job) and cleared by the job when the work reached its end: the message routed or dropped, the reply sent
or failed for good.

Keys: `hl:inflight:{kind}` zset, item id -> when its current job was queued (unix seconds);
      `hl:inflight:{kind}:jobs` hash, item id -> "{rq queue} {job id}", or "{rq queue} {job id} {taker}" once a
      running pipeline job took the item's job from its queue to run it itself (`Store.take_queued_message`);
      `hl:inflight:{kind}:requeues` hash, item id -> how many times the reconciler queued it again;
      `hl:inflight:{kind}:suspects` hash, item id -> "{job id} {unix seconds}": when its job was first seen in no
      queue and not started (a worker may have just taken it: it is lost only if a later look still finds it so).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from redis.client import Pipeline

if TYPE_CHECKING:
    from core.store import Store


class Kind(StrEnum):
    PROCESS = "process"  # a stored message and its pipeline job
    SEND = "send"  # a reply and its send job


@dataclass(frozen=True)
class Entry:
    kind: Kind
    item_id: str
    queue: str
    job_id: str
    queued_at: float
    taken_by: str = ""  # the running job that took `job_id` from its queue and runs its work (none: RQ runs it)


def track(pipe: Pipeline, store: Store, kind: Kind, item_id: str, queue: str, job_id: str, at: float) -> None:
    """Index `item_id` with its job; call inside the MULTI that queues the job."""
    pipe.zadd(store.key("inflight", kind), {item_id: at})
    pipe.hset(store.key("inflight", kind, "jobs"), item_id, f"{queue} {job_id}")


def clear(store: Store, kind: Kind, item_id: str, pipe: Pipeline | None = None) -> None:
    """The item's work is done: forget it (a no-op when it is not indexed)."""
    from core.store import store_errors

    if pipe is not None:
        pipe.zrem(store.key("inflight", kind), item_id)
        pipe.hdel(store.key("inflight", kind, "jobs"), item_id)
        pipe.hdel(store.key("inflight", kind, "requeues"), item_id)
        pipe.hdel(store.key("inflight", kind, "suspects"), item_id)
        return
    with store_errors(), store.redis.pipeline() as own:
        clear(store, kind, item_id, own)
        own.execute()


def count_requeue(pipe: Pipeline, store: Store, kind: Kind, item_id: str) -> None:
    """One more time the item's job was lost and queued again (inside the MULTI that queues it)."""
    pipe.hincrby(store.key("inflight", kind, "requeues"), item_id, 1)
    pipe.hdel(store.key("inflight", kind, "suspects"), item_id)


def requeues(store: Store, kind: Kind, item_id: str) -> int:
    from core.store import store_errors

    with store_errors():
        return int(store.redis.hget(store.key("inflight", kind, "requeues"), item_id) or 0)


def suspected_since(store: Store, kind: Kind, item_id: str, job_id: str, now: float) -> float:
    """When the item's job `job_id` was first seen in no queue and not started (now, on a first sighting)."""
    from core.store import store_errors, text

    key = store.key("inflight", kind, "suspects")
    with store_errors():
        store.redis.hsetnx(key, item_id, f"{job_id} {now}")
        seen_job, _, since = text(store.redis.hget(key, item_id) or b"").partition(" ")
        if seen_job != job_id:  # a sighting of an earlier job of the item: start again
            store.redis.hset(key, item_id, f"{job_id} {now}")
            return now
    return float(since or now)


def not_suspected(store: Store, kind: Kind, item_id: str) -> None:
    from core.store import store_errors

    with store_errors():
        store.redis.hdel(store.key("inflight", kind, "suspects"), item_id)


def is_tracked(store: Store, kind: Kind, item_id: str) -> bool:
    from core.store import store_errors

    with store_errors():
        return store.redis.zscore(store.key("inflight", kind), item_id) is not None


def queued_before(store: Store, kind: Kind, before: float, limit: int) -> list[Entry]:
    """The oldest `limit` items whose current job was queued before `before`: a lost job stays oldest until it is
    queued again, so a bounded batch always reaches it."""
    from core.store import store_errors, text

    with store_errors():
        pairs: list[Any] = store.redis.zrangebyscore(
            store.key("inflight", kind), "-inf", before, 0, limit, withscores=True
        )
        if not pairs:
            return []
        jobs = store.redis.hmget(store.key("inflight", kind, "jobs"), [pair[0] for pair in pairs])
    entries = []
    for pair, job in zip(pairs, jobs, strict=True):
        item, at = pair[0], pair[1]
        queue, _, rest = text(job or b"").partition(" ")
        job_id, _, taken_by = rest.partition(" ")
        entries.append(Entry(kind, text(item), queue, job_id, float(at), taken_by))
    return entries


def count(store: Store, kind: Kind) -> int:
    from core.store import store_errors

    with store_errors():
        return int(store.redis.zcard(store.key("inflight", kind)))
