"""Work lost with a worker, found and queued again; run by the scheduler every `workers.reconcile_seconds`.

RQ loses a job in two ways when its worker dies (SIGKILL, out of memory, a host gone). A worker that listens on
several queues takes a job with LPOP/BLPOP and holds it in no list until it records the job as started; killed in
between, the job is in no queue and no registry. And a job recorded as started stays in the started registry until
RQ's own cleanup (every ten minutes or so) moves it on, to the failed registry when it has no retries left. Helpline
depends on neither: every message waiting for its pipeline and every reply waiting to be sent is in the in-flight
index with the job that carries it (core/inflight.py), and each pass looks at the entries whose job was queued more
than `workers.abandoned_after_seconds` ago:

- waiting in its queue, scheduled for later, or started within the window: alive, nothing to do;
- scheduled, and due before the window: the worker whose RQ scheduler would have queued it died (another worker
  takes the scheduler over only at its next maintenance, minutes later): queued now;
- started before the window: its worker died (a live job is stopped at `workers.job_timeout_seconds`, which is
  shorter): queued again;
- in no queue and not started on two passes in a row, or gone: taken by a worker that died before starting it:
  queued again;
- finished while its entry is still there: its work did not finish (it found another job sending the reply):
  queued again;
- failed (its retries ran out), stopped or cancelled: final, recorded on the reply and the message, entry cleared;
- taken from its queue by a running pipeline job (which runs queued pipeline jobs after its own: workers/jobs.py):
  alive while that job runs and started within the window; otherwise (its worker died, or it ended without
  finishing the message) queued again, under its own job id. A taker whose worker died is itself queued again
  under its own id; while that new run is running, the messages the dead run took wait for it to end, then are
  queued again: later by one job's run, never lost.

An item whose job was lost `MAX_REQUEUES` times already (one that takes its worker down every time) is recorded as
failed instead of being queued a sixth time.

Queuing again reuses the job's id and removes its stale executions from the started registry, so RQ's own cleanup
cannot retry it a second time. Both jobs are safe to run twice: the pipeline is idempotent step by step, and a
reply is sent by one job at a time (a lease) and never once it is sent or failed.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.results import Result

from core import inflight
from core.inflight import Entry, Kind
from core.record_queue import queue_replies, replies_waiting
from core.records import ReplyState, StoredMessage
from core.settings import Settings
from core.store import JOB_RETRY, PROCESS_JOB, Store
from workers.jobs import SEND_JOB, record_final

log = logging.getLogger("helpline.reconcile")

JOB_FUNCTIONS = {Kind.PROCESS: PROCESS_JOB, Kind.SEND: SEND_JOB}
BATCH = 500
MAX_REQUEUES = 5
_ALIVE = {JobStatus.DEFERRED}
_FINAL = {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


@dataclass
class Reconciled:
    requeued: list[str] = field(default_factory=list)  # "{kind} {item}: why"
    failed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.requeued or self.failed)

    def summary(self) -> str:
        return f"queued again {len(self.requeued)} lost jobs, recorded {len(self.failed)} failed ones"


def reconcile(settings: Settings, store: Store, now: float) -> Reconciled:
    """One pass over the in-flight entries older than the abandoned-job window (`now` in unix seconds)."""
    window = settings.workers.abandoned_after_seconds
    done = Reconciled()
    for kind in Kind:
        for entry in inflight.queued_before(store, kind, now - window, BATCH):
            verdict = _verdict(store, entry, now - window)
            if verdict is None or verdict[0] != "lost?":
                inflight.not_suspected(store, kind, entry.item_id)
            if verdict is None:
                continue
            what, why = verdict
            if what == "lost?":
                # Between a worker's LPOP and its recording the job as started, the job is in neither place: it is
                # lost only if a later pass still finds it so.
                if inflight.suspected_since(store, kind, entry.item_id, entry.job_id, now) >= now:
                    continue
                what = "requeue"
            if what == "requeue" and inflight.requeues(store, kind, entry.item_id) >= MAX_REQUEUES:
                # A job that takes its worker down with it every time (a poison message) must not do so forever.
                what, why = "fail", f"{why}, and its job was lost {MAX_REQUEUES} times before"
            if what == "requeue":
                _requeue(store, entry, now)
                done.requeued.append(f"{kind} {entry.item_id}: {why}")
                log.warning("queued %s %s again (job %s): %s", kind, entry.item_id, entry.job_id, why)
            else:
                _record_failure(store, entry, why)
                done.failed.append(f"{kind} {entry.item_id}: {why}")
                log.error("%s %s failed for good (job %s): %s", kind, entry.item_id, entry.job_id, why)
    if replies_waiting(store):  # their job may have been lost with its worker: queued unless one is
        queue_replies(store)
    return done


def _verdict(store: Store, entry: Entry, started_before: float) -> tuple[str, str] | None:
    """("requeue" | "lost?" | "fail", why), or None while the job is alive."""
    if entry.taken_by:
        return _taken_verdict(store, entry, started_before)
    try:
        job = Job.fetch(entry.job_id, connection=store.redis)
    except NoSuchJobError:
        return "requeue", "its job is gone"
    status = job.get_status(refresh=False)
    if status == JobStatus.SCHEDULED:
        due = _scheduled_time(store, entry)
        if due is None or due >= started_before:
            return None
        return "requeue", "its retry was due and no RQ scheduler queued it (the worker running it died)"
    if status in _ALIVE:
        return None
    if status == JobStatus.QUEUED:
        if _waiting(store, entry):
            return None
        return "lost?", "its job was taken from the queue and never started"
    if status == JobStatus.STARTED:
        return None if _started_since(job, started_before) else ("requeue", "its job started and its worker died")
    if status in _FINAL:
        result = job.latest_result()
        error = result.exc_string if result is not None and result.type == Result.Type.FAILED else None
        lines = (error or "").strip().splitlines()
        return "fail", f"its job {status.value}: {lines[-1] if lines else 'no error recorded'}"
    return "requeue", f"its job {status.value if status else 'vanished'} without finishing the work"


def _taken_verdict(store: Store, entry: Entry, started_before: float) -> tuple[str, str] | None:
    """An item whose job a running pipeline job took from the queue (`Store.take_queued_message`): the taker clears
    the entry once the message's work is done, and is stopped at `workers.job_timeout_seconds` like any job."""
    try:
        taker = Job.fetch(entry.taken_by, connection=store.redis)
    except NoSuchJobError:
        return "requeue", "the job that took it from the queue is gone"
    status = taker.get_status(refresh=False)
    if status == JobStatus.STARTED:
        if _started_since(taker, started_before):
            return None
        return "requeue", "the job that took it from the queue started and its worker died"
    why = status.value if status else "vanished"
    return "requeue", f"the job that took it from the queue {why} without finishing it"


def _started_since(job: Job, started_before: float) -> bool:
    """Whether a started job started within the window: alive, as a job still running past it has been stopped at
    `workers.job_timeout_seconds` (shorter than the window)."""
    started = job.started_at or job.enqueued_at
    return started is not None and started.timestamp() >= started_before


def _scheduled_time(store: Store, entry: Entry) -> float | None:
    """When a scheduled job is due; None when it is not in its queue's scheduled registry (being moved out now)."""
    score = store.redis.zscore(_scheduled_key(store.queue(entry.queue)), entry.job_id)
    return float(score) if score is not None else None


def _scheduled_key(queue: Queue) -> str:
    return str(ScheduledJobRegistry(queue=queue).key)  # type: ignore[no-untyped-call]


def _waiting(store: Store, entry: Entry) -> bool:
    """Whether the job id is in its queue's list (or RQ's intermediate list, used by single-queue workers).
    The oldest entries are near the head of their queue, so LPOS stops early for them."""
    queue = store.queue(entry.queue)
    return any(store.redis.lpos(key, entry.job_id) is not None for key in (queue.key, f"{queue.key}:intermediate"))


def _requeue(store: Store, entry: Entry, now: float) -> None:
    queue = store.queue(entry.queue)
    stale = StartedJobRegistry(queue=queue)
    try:
        old: Job | None = Job.fetch(entry.job_id, connection=store.redis)
    except NoSuchJobError:
        old = None
    with store.redis.pipeline() as pipe:
        pipe.multi()  # explicitly first: RQ adds its own MULTI to a pipeline that has none yet
        if old is not None:
            stale.remove_executions(old, pipeline=pipe)
        pipe.zrem(_scheduled_key(queue), entry.job_id)  # so that RQ's scheduler does not queue it a second time
        queue.enqueue_call(
            JOB_FUNCTIONS[entry.kind], args=(entry.item_id,), job_id=entry.job_id, retry=JOB_RETRY, pipeline=pipe
        )
        inflight.track(pipe, store, entry.kind, entry.item_id, entry.queue, entry.job_id, now)
        inflight.count_requeue(pipe, store, entry.kind, entry.item_id)
        pipe.execute()


def _record_failure(store: Store, entry: Entry, why: str) -> None:
    """A job whose retries ran out: its reply fails for good (recorded like any send failure); its message keeps a
    note for the operators (it can be run again with `rq requeue`)."""
    if entry.kind is Kind.SEND:
        reply = store.get_reply(entry.item_id)
        if reply is not None and reply.state is ReplyState.QUEUED:
            reply.state, reply.error = ReplyState.FAILED, f"the send job failed for good: {why}"
            store.save_reply(reply)
        if reply is not None:
            record_final(store, reply)  # into the record too, as the send job would have
            return
    else:

        def note(message: StoredMessage) -> None:
            message.notes.append(f"pipeline failed for good: {why}")

        with contextlib.suppress(KeyError):  # the message is gone: nothing to note it on
            store.update_message(entry.item_id, note)
    inflight.clear(store, entry.kind, entry.item_id)
