"""A queue's throughput: the times agents took items from it (`throughput:{queue}`, a zset), read by the response
time an acknowledgement promises (workers/eta.py) and fed by the desk's take (desk/cases.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.ids import new_id
from core.store import Store, store_errors

KEEP_TAKES = timedelta(days=2)  # longer than any sensible window, so the zset stays small


def _key(store: Store, queue: str) -> str:
    return store.key("throughput", queue)


def record_take(store: Store, queue: str, at: datetime, item_id: str | None = None) -> None:
    """Count one item taken from `queue` at `at`: the queue's throughput. A case taken again (back in the queue
    after its claim ran out, or after the customer wrote again) counts once per take."""
    member = f"{item_id}@{at.timestamp()}" if item_id else new_id("take")
    with store_errors(), store.redis.pipeline() as pipe:
        pipe.zadd(_key(store, queue), {member: at.timestamp()})
        pipe.zremrangebyscore(_key(store, queue), "-inf", (at - KEEP_TAKES).timestamp())
        pipe.execute()


def takes(store: Store, queue: str, since: datetime, until: datetime) -> int:
    """How many items agents took from `queue` between `since` and `until`."""
    with store_errors():
        return int(store.redis.zcount(_key(store, queue), since.timestamp(), until.timestamp()))
