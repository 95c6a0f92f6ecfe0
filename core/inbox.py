"""The agents' inbox: routed messages waiting for an agent, per queue and priority.

`hl:inbox:{queue}:{priority}` is a sorted set of message ids scored by the time the message was filed, so depth is
ZCARD, the oldest item is the lowest score. Agents take the oldest item of the most urgent non-empty priority of
their queue.

A move (promotion or escalation) is one Lua script: it reads the item's score, removes it and adds it to the target
with the same score (so its age is kept) in one step that nothing can interleave with. A read followed by a MULTI is
not enough: an agent's take between the read and the MULTI would leave the item both taken and, after the ZADD,
waiting again in the target queue, where a second agent would take and answer it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from core.envelope import Priority
from core.store import Store, store_errors, text

# KEYS: source zset, target zset, the set of queue names. ARGV: message id, target queue name. 1 if moved.
_MOVE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], score, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class QueueStats:
    queue: str
    priority: Priority
    depth: int
    oldest_at: datetime | None


class Inbox:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis = store.redis
        self._move = self.redis.register_script(_MOVE)

    def _key(self, queue: str, priority: Priority) -> str:
        return self.store.key("inbox", queue, priority.value)

    def file(self, queue: str, priority: Priority, message_id: str, at: datetime) -> None:
        with store_errors(), self.redis.pipeline() as pipe:
            # A re-delivered job must not move an item back to the end of the line: NX keeps the first time.
            pipe.zadd(self._key(queue, priority), {message_id: at.timestamp()}, nx=True)
            pipe.sadd(self.store.key("inbox-queues"), queue)
            pipe.execute()

    def take(self, queue: str) -> tuple[Priority, str] | None:
        """Pop the next item for an agent: most urgent priority first, oldest first within it."""
        with store_errors():
            for priority in Priority:
                popped = self.redis.zpopmin(self._key(queue, priority))
                if popped:
                    return priority, text(popped[0][0])
        return None

    def move(self, message_id: str, queue: str, src: Priority, dst_queue: str, dst: Priority) -> bool:
        """Move one item (promotion or escalation), keeping its age; False when it was no longer waiting."""
        keys = [self._key(queue, src), self._key(dst_queue, dst), self.store.key("inbox-queues")]
        with store_errors():
            return bool(self._move(keys=keys, args=[message_id, dst_queue]))

    def waiting(self, queue: str, priority: Priority, older_than: datetime | None = None) -> list[tuple[str, datetime]]:
        high = older_than.timestamp() if older_than else "+inf"
        with store_errors():
            rows = self.redis.zrangebyscore(self._key(queue, priority), "-inf", high, withscores=True)
        return [(text(row[0]), datetime.fromtimestamp(float(row[1]), UTC)) for row in rows]

    def queues(self) -> list[str]:
        with store_errors():
            return sorted(text(q) for q in self.redis.smembers(self.store.key("inbox-queues")))

    def stats(self, queue: str) -> list[QueueStats]:
        out = []
        with store_errors():
            for priority in Priority:
                key = self._key(queue, priority)
                depth = int(self.redis.zcard(key))
                oldest = self.redis.zrange(key, 0, 0, withscores=True)
                at = datetime.fromtimestamp(float(oldest[0][1]), UTC) if oldest else None
                out.append(QueueStats(queue, priority, depth, at))
        return out
