"""Changes the record must follow, queued as jobs: a webhook (a delivery status, a Telegram edit, an opt-out, an
identity link) updates the hot copy in Redis and queues a record-update job, so no webhook answer waits for
PostgreSQL (workers/record_updates.py runs them). And the record's lag as Redis sees it, for `/healthz` and
`/metrics`.

A record-update job names what changed (`reply`, `message` or `contact`) and its id, never the change itself: the
job copies the hot copy as it is when the job runs, so jobs for the same item may run in any order, or twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from redis.client import Pipeline
from rq.registry import ScheduledJobRegistry

from core import inflight
from core.inflight import Kind

if TYPE_CHECKING:
    from core.corrections import Correction
    from core.store import Store

RECORD_QUEUE = "record"
RECORD_UPDATE_JOB = "workers.record_updates.update_record"
# How many of the oldest in-flight messages are looked at for the oldest age (their index is ordered by when their
# job was queued, which a pause or a re-queue moves later than when the message arrived).
_OLDEST_SAMPLE = 100


class Item(StrEnum):
    REPLY = "reply"
    MESSAGE = "message"
    CONTACT = "contact"


def queue_update(store: Store, item: Item, item_id: str, *, delay: float = 0.0) -> None:
    """Queue a record-update job for `item_id` (after `delay` seconds). Its retries (RQ's) cover an item the record
    does not hold yet; a PostgreSQL outage does not spend them (the job queues itself again instead). A reply waits
    with the others instead (`wait_for_record`), for one job that records them together."""
    from datetime import timedelta

    from core.store import JOB_RETRY, store_errors

    if item is Item.REPLY:
        with store_errors(), store.redis.pipeline() as pipe:
            wait_for_record(store, item_id, pipe)
            pipe.execute()
        queue_replies(store, delay=delay)
        return
    queue = store.queue(RECORD_QUEUE)
    with store_errors():
        if delay > 0:
            queue.enqueue_in(timedelta(seconds=delay), RECORD_UPDATE_JOB, str(item), item_id, retry=JOB_RETRY)
        else:
            queue.enqueue_call(RECORD_UPDATE_JOB, args=(str(item), item_id), retry=JOB_RETRY)


# Replies waiting for the record: a sorted set of reply ids, each scored with when it last changed. A reply joins it
# in the MULTI that makes it final (workers/jobs.py `record_final`) or that changes its delivery state, so none is
# lost between Redis and the record; one job records many together (a transaction and its fsync for a batch, not
# per reply: BENCHMARKS.md, bench_record), and lets go only of those that did not change while it ran.
REPLIES_JOB = "workers.record_updates.record_replies"
# A flag per kind of queued run (now, or later for replies whose message is not recorded yet): one queued at a
# time. Its short life bounds what a lost job costs: the next reply, or the reconciler, queues another.
_QUEUED_FLAG_SECONDS = 60
# Under a burst the job runs at most about once a second (`replies_run_ended`): a reply reaches the record that much
# later, and a batch holds a second's replies.
BATCH_SECONDS = 1.0
_FORGET_UNCHANGED = """
local removed = 0
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) <= tonumber(ARGV[i + 1]) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
"""


def wait_for_record(store: Store, reply_id: str, pipe: Pipeline) -> None:
    """In the caller's MULTI: the reply's current state is for the record to take (`queue_replies` runs the job)."""
    pipe.zadd(_waiting_key(store), {reply_id: time.time()})


def queue_replies(store: Store, *, delay: float = 0.0) -> None:
    """Queue the job that records the waiting replies (after `delay` seconds), unless one is queued already."""
    from core.store import store_errors

    flag = _queued_flag(store, "later" if delay > 0 else "now")
    with store_errors():
        if store.redis.set(flag, "1", nx=True, ex=int(delay) + _QUEUED_FLAG_SECONDS):
            _enqueue_replies_job(store, delay)


def replies_job_started(store: Store) -> None:
    """The job runs: a run queued for later (replies waiting for their messages) is this one or covered by it.
    The flag of a run queued now stays until the run ends (`replies_run_ended`)."""
    from core.store import store_errors

    with store_errors():
        store.redis.delete(_queued_flag(store, "later"))


def replies_run_ended(store: Store, *, still_waiting: int, full: bool, moved_on: bool) -> None:
    """The job has recorded its batch (`full`: as many as it takes, and `moved_on`: it let go of some of them).

    After a full batch that moved on, the next run is queued at once; after one that did not (every reply in it
    waits for its message: `still_waiting`, tried again later), none. Otherwise, when replies changed while it ran
    (more are waiting than the ones it left), the next run is queued `BATCH_SECONDS` from now: under a burst one run
    a second takes everything the second's sends made final, in one transaction, instead of a run (an RQ job and a
    commit) for every few replies. The flag of a queued run is kept for the next one; with none queued it goes, and
    the next reply to change queues a run at once; a reply that changed between the count and the flag's removal
    is seen by the second count (a reply joins the waiting set before it tries the flag)."""
    from core.store import store_errors

    flag = _queued_flag(store, "now")
    delay = _next_run_in(store, still_waiting=still_waiting, full=full, moved_on=moved_on)
    with store_errors():
        if delay is not None:
            store.redis.set(flag, "1", ex=int(delay) + _QUEUED_FLAG_SECONDS)
            _enqueue_replies_job(store, delay)
            return
        store.redis.delete(flag)
    if not full and replies_waiting(store) > still_waiting:
        queue_replies(store)


def _next_run_in(store: Store, *, still_waiting: int, full: bool, moved_on: bool) -> float | None:
    """Seconds until the next run of the replies job (`replies_run_ended`); None for none now."""
    if full:
        return 0.0 if moved_on else None
    if replies_waiting(store) > still_waiting:
        return BATCH_SECONDS
    return None


def _queued_flag(store: Store, when: str) -> str:
    """The flag of a queued run of the replies job: `now` (or a second from now) or `later` (`PAUSE_SECONDS`)."""
    return store.key("record", "replies-job", when)


def _enqueue_replies_job(store: Store, delay: float) -> None:
    from datetime import timedelta

    from core.store import JOB_RETRY

    queue = store.queue(RECORD_QUEUE)
    if delay > 0:
        queue.enqueue_in(timedelta(seconds=delay), REPLIES_JOB, retry=JOB_RETRY)
    else:
        queue.enqueue_call(REPLIES_JOB, retry=JOB_RETRY)


def waiting_replies(store: Store, limit: int) -> list[tuple[str, float]]:
    """The longest-waiting replies (id, when it last changed)."""
    from core.store import store_errors

    with store_errors():
        rows: list[tuple[Any, float]] = store.redis.zrange(_waiting_key(store), 0, limit - 1, withscores=True)  # type: ignore[assignment]
    return [(member.decode() if isinstance(member, bytes) else str(member), float(score)) for member, score in rows]


def replies_recorded(store: Store, recorded: list[tuple[str, float]]) -> None:
    """Let go of recorded replies, but of none that changed again since it was read (its new state waits)."""
    from core.store import store_errors

    if not recorded:
        return
    arguments = [value for reply_id, changed in recorded for value in (reply_id, repr(changed))]
    with store_errors():
        store.redis.eval(_FORGET_UNCHANGED, 1, _waiting_key(store), *arguments)


def replies_waiting(store: Store) -> int:
    from core.store import store_errors

    with store_errors():
        return int(store.redis.zcard(_waiting_key(store)))


def _waiting_key(store: Store) -> str:
    return store.key("record", "replies")


SLA_EVENT_JOB = "workers.record_updates.record_sla_event"


def queue_sla_event(
    store: Store, message_id: str, kind: str, at: datetime, due: datetime | None, *, happened: bool = False
) -> None:
    """Queue an SLA result for the record as it happens: `kind` is `first_response_met`, `first_response_breached`,
    `resolution_met` or `resolution_breached`; `happened` when the response or resolution itself took place at `at`
    (the case's `first_response_at`/`resolved_at` follow), not when the scheduler saw a target pass."""
    from core.store import JOB_RETRY, store_errors

    with store_errors():
        store.queue(RECORD_QUEUE).enqueue_call(
            SLA_EVENT_JOB,
            args=(message_id, kind, at.isoformat(), due.isoformat() if due else None, happened),
            retry=JOB_RETRY,
        )


CORRECTION_JOB = "workers.record_updates.record_correction"


def queue_correction(store: Store, correction: Correction, queue: str | None) -> None:
    """Queue an agent's category correction for the record's audit log (the reports count them); `queue` is the
    one the message was routed to when the router got its category wrong."""
    from core.store import JOB_RETRY, store_errors

    args = (correction.message_id, correction.from_category, correction.to_category, queue, correction.agent,
            correction.reason, correction.at.isoformat())  # fmt: skip
    with store_errors():
        store.queue(RECORD_QUEUE).enqueue_call(CORRECTION_JOB, args=args, retry=JOB_RETRY)


NOTICE_JOB = "workers.record_updates.record_notice"


def queue_notice(
    store: Store, pipe: Pipeline, notice_id: str, notice_json: str | None, withdrawn_at: datetime | None = None
) -> None:
    """Queue a notice's history for the record, in the caller's MULTI (the one that adds or removes the notice in
    Redis, so the history never misses one): its JSON when added or withdrawn (a job that runs after the Redis keys
    are gone still has it), `withdrawn_at` when withdrawn. An admin's text, never customer content."""
    from core.store import JOB_RETRY

    store.queue(RECORD_QUEUE).enqueue_call(
        NOTICE_JOB,
        args=(notice_id, notice_json, withdrawn_at.isoformat() if withdrawn_at else None),
        retry=JOB_RETRY,
        pipeline=pipe,
    )


@dataclass(frozen=True)
class RecordLag:
    """Accepted but not yet recorded: messages waiting for (or paused in) their pipeline job, the oldest's age in
    seconds since it arrived, and record-update jobs waiting (queued or scheduled) with the replies waiting for the
    record."""

    messages: int
    oldest_seconds: float
    updates_waiting: int


def record_lag(store: Store, now: float | None = None) -> RecordLag:
    from core.store import store_errors

    now = time.time() if now is None else now
    with store_errors():
        waiting: list[Any] = store.redis.zrange(store.key("inflight", Kind.PROCESS), 0, _OLDEST_SAMPLE - 1)
        scores = store.redis.zmscore(store.key("messages"), waiting) if waiting else []
        arrived = [float(score) for score in scores or [] if score is not None]
        queue = store.queue(RECORD_QUEUE)
        updates = queue.count + ScheduledJobRegistry(queue=queue).count  # type: ignore[no-untyped-call]
        updates += replies_waiting(store)
    oldest = max(0.0, now - min(arrived)) if arrived else 0.0
    return RecordLag(inflight.count(store, Kind.PROCESS), oldest, int(updates))
