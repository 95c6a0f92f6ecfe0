"""The RQ queues and the order workers take them in.

`inbound` comes first: routing is quick and it is what tells urgent work from the rest, so an urgent message must
not wait unrouted behind a backlog of routine replies. Then one queue per priority, most urgent first; RQ's worker
checks its queues in the order given on every dequeue, which is what makes urgent work go first.
"""

from __future__ import annotations

from redis import Redis
from rq import Queue

from core.envelope import Priority
from core.record_queue import RECORD_QUEUE
from core.store import INBOUND_QUEUE, Store


def priority_queue_name(priority: Priority) -> str:
    return f"replies-{priority.value}"


# SLA breach notifications go right after urgent replies: a supervisor must hear of a breach before routine mail.
NOTIFY_QUEUE = "notifications"
QUEUE_ORDER: tuple[str, ...] = (
    INBOUND_QUEUE,
    priority_queue_name(Priority.URGENT),
    NOTIFY_QUEUE,
    *(priority_queue_name(p) for p in Priority if p is not Priority.URGENT),
    RECORD_QUEUE,  # last: following a webhook's change into the record can wait behind customers' work
)


def queues(redis: Redis) -> list[Queue]:
    return [Queue(name, connection=redis) for name in QUEUE_ORDER]


def reply_queue(priority: Priority, store: Store) -> Queue:
    """The RQ queue that sends replies to messages of `priority` (not an agents' queue: see core/inbox.py)."""
    return store.queue(priority_queue_name(priority))
