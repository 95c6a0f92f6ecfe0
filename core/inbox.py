"""The agents' inbox: routed messages waiting for an agent, then open with an agent until resolved.

An item's life is waiting -> open -> resolved:

    waiting   `hl:inbox:{queue}:{priority}`, a zset of message ids scored by when the message was filed (its
              received time), so depth is ZCARD and the oldest item is the lowest score. Agents take the oldest item
              of the most urgent non-empty priority of their queue.
    open      `hl:open:{queue}`, a zset scored the same way: taken by an agent from that queue, not resolved yet.
    resolved  in neither; `hl:item:{message_id}` (a hash) keeps the times: taken_at/_by/_from,
              first_response_at/_by (the first agent answer) and resolved_at/_by.

Every change of place is one Lua script, so nothing can interleave with it:
- take pops the item and adds it to the open zset in one step: an item is never in neither place;
- move (promotion, escalation) reads the score, removes the item and re-adds it with the same score (its age is
  kept). A read followed by a MULTI is not enough: an agent's take between the read and the MULTI would leave the
  item both taken and, after the ZADD, waiting again in the target queue, where a second agent would answer it too;
- resolve removes the item from wherever it is (open, or still waiting) and stamps resolved_at in the same step, so
  of two agents resolving at once exactly one wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

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

# KEYS: the queue's inbox zsets, most urgent first, then its open zset. Returns {index, id}, or nil when empty.
_TAKE = """
for i = 1, #KEYS - 1 do
  local popped = redis.call('ZPOPMIN', KEYS[i])
  if popped[1] then
    redis.call('ZADD', KEYS[#KEYS], popped[2], popped[1])
    return {i, popped[1]}
  end
end
return false
"""

# KEYS: the item's hash, then every zset it could be in. ARGV: message id, resolved_at, resolved_by.
# Returns the index (from 2) of the zset it was removed from, or 0 when it was in none.
_RESOLVE = """
for i = 2, #KEYS do
  if redis.call('ZREM', KEYS[i], ARGV[1]) == 1 then
    redis.call('HSET', KEYS[1], 'resolved_at', ARGV[2], 'resolved_by', ARGV[3])
    return i
  end
end
return 0
"""


class Place(StrEnum):
    WAITING = "waiting"
    OPEN = "open"


@dataclass(frozen=True)
class QueueStats:
    queue: str
    priority: Priority
    depth: int
    oldest_at: datetime | None


@dataclass(frozen=True)
class ItemTimes:
    """What happened to one item and when; all None for an item nobody has touched."""

    taken_at: datetime | None = None
    taken_by: str | None = None
    taken_from: str | None = None
    first_response_at: datetime | None = None
    first_response_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> ItemTimes:
        def at(name: str) -> datetime | None:
            return datetime.fromisoformat(raw[name]) if raw.get(name) else None

        return cls(
            at("taken_at"), raw.get("taken_by"), raw.get("taken_from"),
            at("first_response_at"), raw.get("first_response_by"), at("resolved_at"), raw.get("resolved_by"),
        )  # fmt: skip


@dataclass(frozen=True)
class Resolved:
    queue: str
    was: Place  # resolved from open, or straight from waiting (e.g. the customer wrote "never mind")
    at: datetime


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


class Inbox:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis = store.redis
        self._move = self.redis.register_script(_MOVE)
        self._take = self.redis.register_script(_TAKE)
        self._resolve = self.redis.register_script(_RESOLVE)

    def _key(self, queue: str, priority: Priority) -> str:
        return self.store.key("inbox", queue, priority.value)

    def _open_key(self, queue: str) -> str:
        return self.store.key("open", queue)

    def _item_key(self, message_id: str) -> str:
        return self.store.key("item", message_id)

    def _older_than(self, key: str, older_than: datetime | None) -> list[tuple[str, datetime]]:
        """The (message id, time) members of a zset scored by time, oldest first, up to `older_than` if given."""
        high = older_than.timestamp() if older_than else "+inf"
        with store_errors():
            rows = self.redis.zrangebyscore(key, "-inf", high, withscores=True)
        return [(text(row[0]), datetime.fromtimestamp(float(row[1]), UTC)) for row in rows]

    # ---- waiting -----------------------------------------------------------------------------------------------

    def file(self, queue: str, priority: Priority, message_id: str, at: datetime) -> None:
        with store_errors(), self.redis.pipeline() as pipe:
            # A re-delivered job must not move an item back to the end of the line: NX keeps the first time.
            pipe.zadd(self._key(queue, priority), {message_id: at.timestamp()}, nx=True)
            pipe.sadd(self.store.key("inbox-queues"), queue)
            pipe.execute()

    def take(self, queue: str, agent: str = "", at: datetime | None = None) -> tuple[Priority, str] | None:
        """Give the next item to an agent: most urgent priority first, oldest first within it. It becomes open."""
        keys = [*(self._key(queue, p) for p in Priority), self._open_key(queue)]
        at = at or datetime.now(UTC)
        with store_errors():
            taken = self._take(keys=keys)
            if not taken:
                return None
            index, message_id = int(taken[0]), text(taken[1])
            # Only a record: the open zset, written atomically with the pop, is what says the item is open.
            self.redis.hset(
                self._item_key(message_id),
                mapping={"taken_at": _iso(at), "taken_by": agent, "taken_from": queue},
            )
        return list(Priority)[index - 1], message_id

    def move(self, message_id: str, queue: str, src: Priority, dst_queue: str, dst: Priority) -> bool:
        """Move one item (promotion or escalation), keeping its age; False when it was no longer waiting."""
        keys = [self._key(queue, src), self._key(dst_queue, dst), self.store.key("inbox-queues")]
        with store_errors():
            return bool(self._move(keys=keys, args=[message_id, dst_queue]))

    def waiting(self, queue: str, priority: Priority, older_than: datetime | None = None) -> list[tuple[str, datetime]]:
        return self._older_than(self._key(queue, priority), older_than)

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

    # ---- open and resolved -------------------------------------------------------------------------------------

    def open_items(self, queue: str, older_than: datetime | None = None) -> list[tuple[str, datetime]]:
        """Items taken from `queue` and not resolved yet, oldest first, with the time the customer wrote."""
        return self._older_than(self._open_key(queue), older_than)

    def record_first_response(self, message_id: str, at: datetime, agent: str) -> bool:
        """Stamp the first agent answer; False (and nothing changed) when the item was answered before."""
        with store_errors():
            first = bool(self.redis.hsetnx(self._item_key(message_id), "first_response_at", _iso(at)))
            if first:
                self.redis.hset(self._item_key(message_id), "first_response_by", agent)
        return first

    def resolve(self, message_id: str, agent: str, at: datetime) -> Resolved | None:
        """Take the item out of the inbox for good and stamp resolved_at; None when it was neither open nor waiting
        (never routed, or already resolved: see `times`)."""
        places = [(q, Place.OPEN, self._open_key(q)) for q in self.queues()]
        places += [(q, Place.WAITING, self._key(q, p)) for q in self.queues() for p in Priority]
        with store_errors():
            index = int(self._resolve(keys=[self._item_key(message_id), *(k for _, _, k in places)],
                                      args=[message_id, _iso(at), agent]))  # fmt: skip
        if not index:
            return None
        queue, was, _ = places[index - 2]
        return Resolved(queue, was, at)

    def times(self, message_id: str) -> ItemTimes:
        with store_errors():
            raw = self.redis.hgetall(self._item_key(message_id))
        return ItemTimes.from_hash({text(k): text(v) for k, v in raw.items()})
