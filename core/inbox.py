"""The agents' inbox: one item per case (a conversation), whatever the number of its messages.

A case's life (README "The case lifecycle"):

    open      waiting in `hl:inbox:{queue}:{priority}` (a zset of case ids), or taken by an agent: in
              `hl:open:{queue}` (scored by when the customer wrote) and in `hl:agent-cases:{agent}` (their load)
    pending   an agent answered and waits for the customer: out of the queue, in `hl:pending` (scored by when it
              became pending); resolved by the scheduler after `[cases].pending_days`
    resolved  in none of them; a customer message within `[cases].reopen_days` reopens it

`hl:case:{id}` (a hash) is the case's live state: status, place (waiting/taken), queue, priority, category, the
inbox score, `since` (when the customer's current wait began), `clock` (when the resolution clock started, moved
later by the time spent pending: the clock is paused while the customer has our answer), `lead` (the message that
opened the current wait), `seq` (customer messages filed), the agent and the times (taken, first response,
resolved). It holds ids and times only, no customer content. The record's `conversations` row follows it
(record/cases.py, by a record-update job): Redis decides what happens next, atomically; PostgreSQL keeps it.

Order: most urgent priority first; within a priority, the earliest first-response due time, then the oldest. The
score packs both: `floor(due) * 2^20 + (2^20 - 1 - min(due - since, 2^20 - 1))` in whole seconds, an integer
below 2^53 so a double holds it exactly (a wait longer than 12 days ties on age).

`hl:inbox-changes` (a hash, queue → counter) is raised by each script below whenever a case enters, leaves or moves
within a queue (filed, taken, moved, answered, resolved, released, reassigned): the console polls it (one HGETALL a
second per open page) to push new cases to agents without reloading (web/console/live.py).

Every change of place is one Lua script, so nothing can interleave with it: two agents never take the same case, a
follow-up that lands while an agent answers keeps the case open (the answer names the last message it saw), and of
two agents resolving at once exactly one wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from core.envelope import Priority
from core.store import Store, store_errors, text

_AGE_BITS = 2**20
_PRIORITIES = [p.value for p in Priority]

# KEYS: case hash, queue-name set, pending zset. ARGV: prefix, case id, message id, queue, priority, score, since,
# now, reopen seconds, category, then the priorities most urgent first.
# Returns {outcome, priority now, priority before}: new | follow-up | back | reopened | closed | known.
_FILE = """
local h = KEYS[1]
local prefix, cid, mid = ARGV[1], ARGV[2], ARGV[3]
local queue, prio, score, since, now = ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
local function rank(p) for i = 11, #ARGV do if ARGV[i] == p then return i end end return 99 end
local function wait_in(q, p, s)
  redis.call('ZADD', prefix .. ':inbox:' .. q .. ':' .. p, s, cid)
  redis.call('SADD', KEYS[2], q)
  redis.call('HSET', h, 'status', 'open', 'place', 'waiting', 'queue', q, 'priority', p, 'score', s)
  redis.call('HINCRBY', prefix .. ':inbox-changes', q, 1)
end
local status = redis.call('HGET', h, 'status')
if redis.call('HEXISTS', h, 'm:' .. mid) == 1 then return {'known', redis.call('HGET', h, 'priority') or prio, ''} end
if status == 'resolved' and now - tonumber(redis.call('HGET', h, 'resolved_ts')) > tonumber(ARGV[9]) then
  return {'closed', redis.call('HGET', h, 'priority'), ''}
end
redis.call('HSET', h, 'm:' .. mid, '1')
redis.call('HINCRBY', h, 'seq', 1)
if not status then
  redis.call('HSET', h, 'created', since, 'clock', since, 'since', since, 'lead', mid, 'category', ARGV[10])
  wait_in(queue, prio, score)
  return {'new', prio, prio}
end
local cq, cp = redis.call('HGET', h, 'queue'), redis.call('HGET', h, 'priority')
local p = cp
if rank(prio) < rank(cp) then p = prio end
if status == 'open' then
  if redis.call('HGET', h, 'place') == 'waiting' then
    local s = redis.call('HGET', h, 'score')
    if tonumber(score) < tonumber(s) then s = score end
    redis.call('ZREM', prefix .. ':inbox:' .. cq .. ':' .. cp, cid)
    wait_in(cq, p, s)
  else
    redis.call('HSET', h, 'priority', p)
  end
  return {'follow-up', p, cp}
end
if status == 'pending' then
  redis.call('HINCRBYFLOAT', h, 'clock', now - tonumber(redis.call('HGET', h, 'pending_ts')))
  redis.call('ZREM', KEYS[3], cid)
  redis.call('HDEL', h, 'pending_ts')
  redis.call('HSET', h, 'since', since, 'lead', mid)
  wait_in(cq, p, score)
  return {'back', p, cp}
end
redis.call('HDEL', h, 'resolved_ts', 'resolved_by', 'agent')
redis.call('HSET', h, 'since', since, 'lead', mid, 'clock', since)
redis.call('HINCRBY', h, 'reopened', 1)
wait_in(cq, p, score)
return {'reopened', p, cp}
"""

# KEYS: the agent's set of taken cases, then for each priority (most urgent first) the inbox zsets of every queue
# the agent serves, in the order of ARGV's queues. ARGV: prefix, agent, capacity, now, then the queues.
# Returns {case id, queue index, priority index}, {'' , 'capacity'} at capacity, or false when nothing waits.
_TAKE = """
local agent, capacity, now = ARGV[2], tonumber(ARGV[3]), ARGV[4]
if redis.call('SCARD', KEYS[1]) >= capacity then return {'', 'capacity'} end
local nq = #ARGV - 4
for pi = 0, (#KEYS - 1) / nq - 1 do
  local best, bestq, bests = nil, nil, nil
  for qi = 1, nq do
    local top = redis.call('ZRANGE', KEYS[1 + pi * nq + qi], 0, 0, 'WITHSCORES')
    if top[1] and (not bests or tonumber(top[2]) < bests) then best, bestq, bests = top[1], qi, tonumber(top[2]) end
  end
  if best then
    local q = ARGV[4 + bestq]
    local h = ARGV[1] .. ':case:' .. best
    redis.call('ZREM', KEYS[1 + pi * nq + bestq], best)
    redis.call('HINCRBY', ARGV[1] .. ':inbox-changes', q, 1)
    redis.call('ZADD', ARGV[1] .. ':open:' .. q, redis.call('HGET', h, 'since') or now, best)
    redis.call('SADD', KEYS[1], best)
    redis.call('HSET', h, 'place', 'taken', 'agent', agent, 'taken_ts', now, 'taken_from', q)
    return {best, bestq, pi + 1}
  end
end
return false
"""

# KEYS: source zset, target zset, the set of queue names, the case hash, the changes hash. ARGV: case id, target
# queue, priority, source queue.
_MOVE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], score, ARGV[1])
redis.call('HINCRBY', KEYS[5], ARGV[4], 1)
redis.call('HINCRBY', KEYS[5], ARGV[2], 1)
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[4], 'queue', ARGV[2], 'priority', ARGV[3])
return 1
"""

# KEYS: case hash, pending zset. ARGV: prefix, case id, agent, now, the last message seq the agent saw.
# Returns pending | newer (a customer message came after what the agent saw: stays open) | not-open.
_ANSWERED = """
local h = KEYS[1]
if redis.call('HGET', h, 'status') ~= 'open' then return 'not-open' end
if tonumber(redis.call('HGET', h, 'seq') or '0') > tonumber(ARGV[5]) then return 'newer' end
local q, p, agent = redis.call('HGET', h, 'queue'), redis.call('HGET', h, 'priority'), redis.call('HGET', h, 'agent')
redis.call('ZREM', ARGV[1] .. ':inbox:' .. q .. ':' .. p, ARGV[2])
redis.call('HINCRBY', ARGV[1] .. ':inbox-changes', q, 1)
redis.call('ZREM', ARGV[1] .. ':open:' .. q, ARGV[2])
if agent then redis.call('SREM', ARGV[1] .. ':agent-cases:' .. agent, ARGV[2]) end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('HSET', h, 'status', 'pending', 'place', '', 'pending_ts', ARGV[4], 'agent', ARGV[3])
return 'pending'
"""

# KEYS: case hash, pending zset. ARGV: prefix, case id, agent, now, the status it must be in ('' = any unresolved).
# Returns the status it was resolved from (waiting, taken, pending), or '' when it was not resolvable.
_RESOLVE = """
local h = KEYS[1]
local status = redis.call('HGET', h, 'status')
if not status or status == 'resolved' or (ARGV[5] ~= '' and status ~= ARGV[5]) then return '' end
local was = status
if status == 'open' then was = redis.call('HGET', h, 'place') end
local q, p, agent = redis.call('HGET', h, 'queue'), redis.call('HGET', h, 'priority'), redis.call('HGET', h, 'agent')
redis.call('ZREM', ARGV[1] .. ':inbox:' .. q .. ':' .. p, ARGV[2])
redis.call('HINCRBY', ARGV[1] .. ':inbox-changes', q, 1)
redis.call('ZREM', ARGV[1] .. ':open:' .. q, ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
if agent then redis.call('SREM', ARGV[1] .. ':agent-cases:' .. agent, ARGV[2]) end
redis.call('HSET', h, 'status', 'resolved', 'place', '', 'resolved_ts', ARGV[4], 'resolved_by', ARGV[3])
redis.call('HDEL', h, 'pending_ts')
return was
"""

# KEYS: case hash, the set of queue names. ARGV: prefix, case id, taken before (timestamp, or '' for any), agent
# or '' (back to the queue). Returns 1 when the case moved, 0 when it was not open with an agent (or taken later).
_REASSIGN = """
local h = KEYS[1]
if redis.call('HGET', h, 'status') ~= 'open' then return 0 end
local place, q, p = redis.call('HGET', h, 'place'), redis.call('HGET', h, 'queue'), redis.call('HGET', h, 'priority')
local old = redis.call('HGET', h, 'agent')
if ARGV[3] ~= '' and (place ~= 'taken' or tonumber(redis.call('HGET', h, 'taken_ts')) > tonumber(ARGV[3])) then
  return 0
end
if ARGV[4] == '' and place ~= 'taken' then return 0 end
redis.call('HINCRBY', ARGV[1] .. ':inbox-changes', q, 1)
if old and place == 'taken' then redis.call('SREM', ARGV[1] .. ':agent-cases:' .. old, ARGV[2]) end
if ARGV[4] == '' then
  redis.call('ZREM', ARGV[1] .. ':open:' .. q, ARGV[2])
  redis.call('ZADD', ARGV[1] .. ':inbox:' .. q .. ':' .. p, redis.call('HGET', h, 'score'), ARGV[2])
  redis.call('SADD', KEYS[2], q)
  redis.call('HSET', h, 'place', 'waiting')
  redis.call('HDEL', h, 'agent', 'taken_ts', 'taken_from')
  return 1
end
redis.call('ZREM', ARGV[1] .. ':inbox:' .. q .. ':' .. p, ARGV[2])
redis.call('ZADD', ARGV[1] .. ':open:' .. q, redis.call('HGET', h, 'since'), ARGV[2])
redis.call('SADD', ARGV[1] .. ':agent-cases:' .. ARGV[4], ARGV[2])
redis.call('HSET', h, 'place', 'taken', 'agent', ARGV[4], 'taken_ts', ARGV[5], 'taken_from', q)
return 1
"""


# KEYS: case hash, the set of queue names, pending zset. ARGV: prefix, case id, now, score, since (= now).
# Returns {1, status it was reopened from} or {0, its status ('' for no case)} when it was not pending or resolved.
_REOPEN = """
local h = KEYS[1]
local status = redis.call('HGET', h, 'status')
if status ~= 'pending' and status ~= 'resolved' then return {0, status or ''} end
local q, p = redis.call('HGET', h, 'queue'), redis.call('HGET', h, 'priority')
if status == 'pending' then
  redis.call('HINCRBYFLOAT', h, 'clock', tonumber(ARGV[3]) - tonumber(redis.call('HGET', h, 'pending_ts')))
  redis.call('ZREM', KEYS[3], ARGV[2])
  redis.call('HDEL', h, 'pending_ts')
else
  redis.call('HDEL', h, 'resolved_ts', 'resolved_by')
  redis.call('HSET', h, 'clock', ARGV[5])
  redis.call('HINCRBY', h, 'reopened', 1)
end
redis.call('HDEL', h, 'agent')
redis.call('ZADD', ARGV[1] .. ':inbox:' .. q .. ':' .. p, ARGV[4], ARGV[2])
redis.call('HINCRBY', ARGV[1] .. ':inbox-changes', q, 1)
redis.call('SADD', KEYS[2], q)
redis.call('HSET', h, 'status', 'open', 'place', 'waiting', 'since', ARGV[5], 'score', ARGV[4])
return {1, status}
"""

# KEYS: case hash, the set of queue names. ARGV: prefix, case id, queue, priority, category ('' = unchanged).
# A waiting case keeps its place in line in its new queue and priority; a taken one stays with its agent and counts
# in its new queue's open cases; a pending or resolved one just carries the new values. Returns its status, or ''.
_RECLASSIFY = """
local h = KEYS[1]
local status = redis.call('HGET', h, 'status')
if not status then return '' end
local q, p, place = redis.call('HGET', h, 'queue'), redis.call('HGET', h, 'priority'), redis.call('HGET', h, 'place')
local nq, np = ARGV[3], ARGV[4]
if status == 'open' and place == 'waiting' then
  local from = ARGV[1] .. ':inbox:' .. q .. ':' .. p
  local score = redis.call('ZSCORE', from, ARGV[2]) or redis.call('HGET', h, 'score')
  redis.call('ZREM', from, ARGV[2])
  redis.call('ZADD', ARGV[1] .. ':inbox:' .. nq .. ':' .. np, score, ARGV[2])
  redis.call('SADD', KEYS[2], nq)
elseif status == 'open' and place == 'taken' and nq ~= q then
  local from = ARGV[1] .. ':open:' .. q
  local since = redis.call('ZSCORE', from, ARGV[2]) or redis.call('HGET', h, 'since')
  redis.call('ZREM', from, ARGV[2])
  redis.call('ZADD', ARGV[1] .. ':open:' .. nq, since, ARGV[2])
  redis.call('SADD', KEYS[2], nq)
end
redis.call('HINCRBY', ARGV[1] .. ':inbox-changes', q, 1)
if nq ~= q then redis.call('HINCRBY', ARGV[1] .. ':inbox-changes', nq, 1) end
redis.call('HSET', h, 'queue', nq, 'priority', np)
if ARGV[5] ~= '' then redis.call('HSET', h, 'category', ARGV[5]) end
return status
"""


# KEYS: case hash, the agent's set of taken cases. ARGV: prefix, case id, agent, now, capacity.
# Returns assigned, capacity (the agent holds `capacity` taken cases) or not-waiting (taken or answered meanwhile).
_ASSIGN = """
local h = KEYS[1]
if redis.call('HGET', h, 'status') ~= 'open' or redis.call('HGET', h, 'place') ~= 'waiting' then
  return 'not-waiting'
end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 'capacity' end
local q, p = redis.call('HGET', h, 'queue'), redis.call('HGET', h, 'priority')
redis.call('ZREM', ARGV[1] .. ':inbox:' .. q .. ':' .. p, ARGV[2])
redis.call('HINCRBY', ARGV[1] .. ':inbox-changes', q, 1)
redis.call('ZADD', ARGV[1] .. ':open:' .. q, redis.call('HGET', h, 'since'), ARGV[2])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('HSET', h, 'place', 'taken', 'agent', ARGV[3], 'taken_ts', ARGV[4], 'taken_from', q)
return 'assigned'
"""


class Place(StrEnum):
    WAITING = "waiting"
    TAKEN = "taken"
    PENDING = "pending"
    # Kept for the name older callers use for "taken"
    OPEN = "taken"


class Status(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"


class Filed(StrEnum):
    """What a customer message did to its case (`Inbox.file`)."""

    NEW = "new"  # opened the case: one new inbox item
    FOLLOW_UP = "follow-up"  # the case was open (waiting or with an agent): no new item, priority maybe raised
    BACK = "back"  # the case was pending: back in the queue
    REOPENED = "reopened"  # the case was resolved within `reopen_days`: reopened, back in the queue
    CLOSED = "closed"  # the case was resolved longer ago: nothing changed, a new case is for the caller to open
    KNOWN = "known"  # this message was filed before (a re-run): nothing changed


@dataclass(frozen=True)
class Filing:
    outcome: Filed
    priority: Priority
    before: Priority | None  # the case's priority before this message

    @property
    def raised(self) -> bool:
        return self.before is not None and self.priority.rank < self.before.rank


@dataclass(frozen=True)
class QueueStats:
    queue: str
    priority: Priority
    depth: int
    oldest_at: datetime | None


@dataclass(frozen=True)
class Taken:
    case_id: str
    queue: str
    priority: Priority


@dataclass(frozen=True)
class ItemTimes:
    """What happened to one case and when; all None for a case nobody has touched."""

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
            return datetime.fromtimestamp(float(raw[name]), UTC) if raw.get(name) else None

        taken_by = raw.get("agent") if raw.get("place") == "taken" or raw.get("taken_ts") else None
        return cls(
            at("taken_ts"), taken_by, raw.get("taken_from") or None,
            at("first_response_ts"), raw.get("first_response_by"), at("resolved_ts"), raw.get("resolved_by"),
        )  # fmt: skip


@dataclass(frozen=True)
class CaseState:
    """A case's live state (`hl:case:{id}`)."""

    id: str
    status: Status
    place: Place | None
    queue: str
    priority: Priority
    category: str
    since: datetime  # when the customer's current wait began
    clock: datetime  # the resolution clock's start, moved later by the time spent pending
    created: datetime
    lead: str  # the message that opened the current wait
    seq: int  # customer messages filed
    agent: str | None
    pending_at: datetime | None
    times: ItemTimes
    reopened: int

    @classmethod
    def from_hash(cls, case_id: str, raw: dict[str, str]) -> CaseState:
        def at(name: str) -> datetime:
            return datetime.fromtimestamp(float(raw.get(name) or 0), UTC)

        status = Status(raw["status"])
        place = raw.get("place")
        return cls(
            id=case_id, status=status,
            place=Place.PENDING if status is Status.PENDING else (Place(place) if place else None),
            queue=raw.get("queue", ""), priority=Priority(raw.get("priority", "normal")),
            category=raw.get("category", ""), since=at("since"), clock=at("clock"), created=at("created"),
            lead=raw.get("lead", ""), seq=int(raw.get("seq", 0)), agent=raw.get("agent") or None,
            pending_at=at("pending_ts") if raw.get("pending_ts") else None, times=ItemTimes.from_hash(raw),
            reopened=int(raw.get("reopened", 0)),
        )  # fmt: skip


@dataclass(frozen=True)
class Resolved:
    queue: str
    was: Place  # resolved from waiting, taken or pending
    at: datetime


def inbox_score(due: datetime | None, since: datetime) -> str:
    """The zset score: earliest due first, then oldest (module docstring). No target: due a year after `since`."""
    due_s = math.floor((due or since.replace(year=since.year + 1)).timestamp())
    gap = max(0, min(due_s - math.floor(since.timestamp()), _AGE_BITS - 1))
    return str(due_s * _AGE_BITS + (_AGE_BITS - 1 - gap))


def _ts(at: datetime) -> str:
    return repr(at.timestamp())


class Inbox:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis = store.redis
        self._file = store.script(_FILE)
        self._take = store.script(_TAKE)
        self._move = store.script(_MOVE)
        self._answered = store.script(_ANSWERED)
        self._resolve = store.script(_RESOLVE)
        self._reassign = store.script(_REASSIGN)
        self._reopen = store.script(_REOPEN)
        self._reclassify = store.script(_RECLASSIFY)
        self._assign = store.script(_ASSIGN)

    def _key(self, queue: str, priority: Priority) -> str:
        return self.store.key("inbox", queue, priority.value)

    def _open_key(self, queue: str) -> str:
        return self.store.key("open", queue)

    def case_key(self, case_id: str) -> str:
        return self.store.key("case", case_id)

    def _agent_key(self, agent: str) -> str:
        return self.store.key("agent-cases", agent)

    def _pending_key(self) -> str:
        return self.store.key("pending")

    def _queues_key(self) -> str:
        return self.store.key("inbox-queues")

    def _changes_key(self) -> str:
        return self.store.key("inbox-changes")

    # ---- filing: a customer message reaches its case ------------------------------------------------------------

    def file(
        self,
        case_id: str,
        message_id: str,
        queue: str,
        priority: Priority,
        *,
        since: datetime,
        due: datetime | None,
        now: datetime,
        reopen_seconds: float,
        category: str = "",
    ) -> Filing:
        """A routed customer message joins its case: a new case waits in `queue`; a follow-up adds no item (and may
        raise the case's priority, never lower it); a pending case goes back in the queue, a resolved one within
        `reopen_seconds` reopens. Filing the same message again changes nothing."""
        keys = [self.case_key(case_id), self._queues_key(), self._pending_key()]
        args = [self.store.prefix, case_id, message_id, queue, priority.value, inbox_score(due, since), _ts(since),
                _ts(now), repr(float(reopen_seconds)), category, *_PRIORITIES]  # fmt: skip
        with store_errors():
            outcome, now_priority, before = (text(v) for v in self._file(keys=keys, args=args))
        return Filing(Filed(outcome), Priority(now_priority), Priority(before) if before else None)

    # ---- taking -------------------------------------------------------------------------------------------------

    def take(self, queues: list[str], agent: str, *, capacity: int, at: datetime | None = None) -> Taken | None:
        """Give `agent` the most urgent case of any of `queues` (module docstring's order), unless the agent already
        has `capacity` cases open. One script: two agents never get the same case."""
        if not queues:
            return None
        at = at or datetime.now(UTC)
        keys = [self._agent_key(agent), *(self._key(q, p) for p in Priority for q in queues)]
        args = [self.store.prefix, agent, str(capacity), _ts(at), *queues]
        with store_errors():
            taken = self._take(keys=keys, args=args)
        if not taken or text(taken[0]) == "":
            return None
        return Taken(text(taken[0]), queues[int(taken[1]) - 1], list(Priority)[int(taken[2]) - 1])

    def load(self, agent: str) -> list[str]:
        """The cases `agent` has taken and not answered or resolved yet (what counts against their capacity)."""
        with store_errors():
            return sorted(text(c) for c in self.redis.smembers(self._agent_key(agent)))

    def assign(self, case_id: str, agent: str, at: datetime, *, capacity: int) -> str:
        """Give a waiting case to `agent` unless they hold `capacity` taken cases (automatic assignment): 'assigned',
        'capacity', or 'not-waiting' when someone took it (or it was answered) first. One script, like `take`."""
        keys = [self.case_key(case_id), self._agent_key(agent)]
        with store_errors():
            return text(self._assign(keys=keys, args=[self.store.prefix, case_id, agent, _ts(at), str(capacity)]))

    def release(self, case_id: str, taken_before: datetime) -> bool:
        """Put a case taken before `taken_before` and still not answered back in its queue (the claim ran out)."""
        keys = [self.case_key(case_id), self._queues_key()]
        with store_errors():
            return bool(self._reassign(keys=keys, args=[self.store.prefix, case_id, _ts(taken_before), "", ""]))

    def reassign(self, case_id: str, agent: str, at: datetime) -> bool:
        """Give an open case (waiting or taken) to `agent`, whatever their load; False when it is not open."""
        keys = [self.case_key(case_id), self._queues_key()]
        with store_errors():
            return bool(self._reassign(keys=keys, args=[self.store.prefix, case_id, "", agent, _ts(at)]))

    def move(self, case_id: str, queue: str, src: Priority, dst_queue: str, dst: Priority) -> bool:
        """Move one waiting case (promotion, escalation, a new category), keeping its place in line; False when it
        was no longer waiting there."""
        keys = [self._key(queue, src), self._key(dst_queue, dst), self._queues_key(), self.case_key(case_id),
                self._changes_key()]  # fmt: skip
        with store_errors():
            return bool(self._move(keys=keys, args=[case_id, dst_queue, dst.value, queue]))

    def reclassify(self, case_id: str, queue: str, priority: Priority, category: str = "") -> Status | None:
        """Give a case another queue, priority or category in whatever state it is (`_RECLASSIFY`); its status, or
        None when there is no such case."""
        keys = [self.case_key(case_id), self._queues_key()]
        with store_errors():
            status = text(self._reclassify(keys=keys, args=[self.store.prefix, case_id, queue, priority.value,
                                                             category]))  # fmt: skip
        return Status(status) if status else None

    # ---- answered, resolved ------------------------------------------------------------------------------------

    def answered(self, case_id: str, agent: str, at: datetime, seen_seq: int) -> str:
        """An agent answered: the case becomes pending (out of the queue), unless a customer message came after the
        `seen_seq`-th (then it stays open with the agent: 'newer'); 'not-open' when it was not open."""
        keys = [self.case_key(case_id), self._pending_key()]
        with store_errors():
            return text(self._answered(keys=keys, args=[self.store.prefix, case_id, agent, _ts(at), str(seen_seq)]))

    def record_first_response(self, case_id: str, at: datetime, agent: str) -> bool:
        """Stamp the case's first agent answer; False (and nothing changed) when it was answered before."""
        key = self.case_key(case_id)
        with store_errors():
            first = bool(self.redis.hsetnx(key, "first_response_ts", _ts(at)))
            if first:
                self.redis.hset(key, "first_response_by", agent)
        return first

    def resolve(self, case_id: str, agent: str, at: datetime, *, only_if: Status | None = None) -> Resolved | None:
        """Close the case (from waiting, taken or pending); None when it was not open or pending (or not `only_if`).
        Of two resolving at once, exactly one gets a `Resolved`."""
        keys = [self.case_key(case_id), self._pending_key()]
        args = [self.store.prefix, case_id, agent, _ts(at), only_if.value if only_if else ""]
        with store_errors():
            was = text(self._resolve(keys=keys, args=args))
        if not was:
            return None
        queue = self.case(case_id)
        return Resolved(queue.queue if queue else "", Place(was), at)

    def reopen(self, case_id: str, at: datetime, due: datetime | None) -> tuple[bool, str]:
        """Put a pending or resolved case back in its queue at its priority, waiting from `at` (first response `due`
        orders it); (True, the status it was in), or (False, its status: '' for no case) when it was not pending or
        resolved. The resolution clock resumes (pending) or restarts (resolved), as a customer's message does."""
        keys = [self.case_key(case_id), self._queues_key(), self._pending_key()]
        args = [self.store.prefix, case_id, _ts(at), inbox_score(due, at), _ts(at)]
        with store_errors():
            done, status = self._reopen(keys=keys, args=args)
        return bool(int(done)), text(status)

    def pending_since(self, before: datetime) -> list[str]:
        """Cases pending since before `before` (oldest first)."""
        with store_errors():
            return [text(c) for c in self.redis.zrangebyscore(self._pending_key(), "-inf", before.timestamp())]

    # ---- reading ------------------------------------------------------------------------------------------------

    def case(self, case_id: str) -> CaseState | None:
        with store_errors():
            raw = self.redis.hgetall(self.case_key(case_id))
        fields = {text(k): text(v) for k, v in raw.items()}
        return CaseState.from_hash(case_id, fields) if fields.get("status") else None

    def statuses(self, case_ids: list[str]) -> dict[str, Status]:
        """The live status of each case Redis holds, in one round trip (a list of a thousand cases)."""
        with store_errors(), self.redis.pipeline(transaction=False) as pipe:
            for case_id in case_ids:
                pipe.hget(self.case_key(case_id), "status")
            found = pipe.execute()
        return {case_id: Status(text(status)) for case_id, status in zip(case_ids, found, strict=True) if status}

    def times(self, case_id: str) -> ItemTimes:
        with store_errors():
            raw = self.redis.hgetall(self.case_key(case_id))
        return ItemTimes.from_hash({text(k): text(v) for k, v in raw.items()})

    def _with_since(self, ids: list[str], older_than: datetime | None) -> list[tuple[str, datetime]]:
        if not ids:
            return []
        with store_errors(), self.redis.pipeline(transaction=False) as pipe:
            for case_id in ids:
                pipe.hget(self.case_key(case_id), "since")
            sinces = pipe.execute()
        out = [(c, datetime.fromtimestamp(float(text(s or 0)), UTC)) for c, s in zip(ids, sinces, strict=True)]
        return [(c, at) for c, at in out if older_than is None or at <= older_than]

    def waiting(self, queue: str, priority: Priority, older_than: datetime | None = None) -> list[tuple[str, datetime]]:
        """The cases waiting in `queue` at `priority`, in the order agents get them, with when each customer's wait
        began; only those waiting since `older_than` or before, if given."""
        with store_errors():
            ids = [text(c) for c in self.redis.zrange(self._key(queue, priority), 0, -1)]
        return self._with_since(ids, older_than)

    def open_items(self, queue: str, older_than: datetime | None = None) -> list[tuple[str, datetime]]:
        """Cases taken from `queue` and not answered or resolved yet, oldest first, with when the customer wrote."""
        high = older_than.timestamp() if older_than else "+inf"
        with store_errors():
            rows = self.redis.zrangebyscore(self._open_key(queue), "-inf", high, withscores=True)
        return [(text(row[0]), datetime.fromtimestamp(float(row[1]), UTC)) for row in rows]

    def changes(self) -> dict[str, int]:
        """Per queue, a counter every script above raises when a case enters, leaves or changes place in that queue:
        one read tells a watcher (the console's live updates) whether anything moved since it last looked."""
        with store_errors():
            raw = self.redis.hgetall(self._changes_key())
        return {text(q): int(n) for q, n in raw.items()}

    def queues(self) -> list[str]:
        with store_errors():
            return sorted(text(q) for q in self.redis.smembers(self._queues_key()))

    def stats(self, queue: str, *, oldest: bool = True) -> list[QueueStats]:
        """Depth per priority, and (with `oldest`) when the longest wait began."""
        out = []
        with store_errors(), self.redis.pipeline(transaction=False) as pipe:  # one round trip: every acknowledgement
            for priority in Priority:
                pipe.zcard(self._key(queue, priority))
            depths = [int(depth) for depth in pipe.execute()]
        for priority, depth in zip(Priority, depths, strict=True):
            at = None
            if oldest and depth:
                at = min(since for _, since in self.waiting(queue, priority))
            out.append(QueueStats(queue, priority, depth, at))
        return out
