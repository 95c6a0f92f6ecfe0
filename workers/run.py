"""The worker process: an RQ SimpleWorker over Helpline's queues, in priority order, that outlives Redis restarts.

SimpleWorker runs jobs in the worker process instead of forking per job. Our jobs are short and I/O-bound; a fork
per job costs more than the job (bench/bench_workers.py measures it) and loses the process-wide context (settings,
compiled router, connections). Scale out by running more worker processes against the same Redis.

RQ's work loop rides out a connection error while it waits for a job, but one anywhere else (recording a job's
state, its heartbeat) ends the loop and `work()` returns: under a Procfile runner nobody would start the worker
again. So `work` runs RQ's loop again, on a fresh worker, with backoff, until it is asked to stop. A job that was
running when Redis went away is retried by RQ or, when RQ could not even record its end, queued again by the
reconciler (workers/reconcile.py).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.utils import now

from core.errors import StoreUnavailable
from core.queues import queues
from core.redis_conn import connect
from core.sensitive import mask_sensitive
from core.settings import Settings
from core.store import Store
from desk.upgrade import upgrade_inbox
from record.attachment_store import open_attachment_store
from record.engine import connect as connect_record
from router.hours import BusinessCalendar
from workers import context
from workers.live_router import LiveRouter

log = logging.getLogger("helpline.worker")
MAX_BACKOFF_SECONDS = 30.0


class HelplineWorker(SimpleWorker):
    """A SimpleWorker that stops any job at `workers.job_timeout_seconds` (RQ's default is three minutes), so that
    a job still running is never mistaken by the reconciler for one whose worker died, and that masks the traceback
    RQ keeps with a failed job."""

    job_timeout_seconds = 20
    HEARTBEAT_SECONDS = 1.0

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        if not job.timeout or job.timeout < 0 or job.timeout > self.job_timeout_seconds:
            job.timeout = self.job_timeout_seconds
        return bool(super().perform_job(job, queue, execution))

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: Any = None,
        exc_string: str = "",
        execution: Execution | None = None,
    ) -> None:
        """RQ stores a failed job's traceback in Redis (its result and the failed registry) and sends it to webhooks;
        an exception's message can quote what a customer wrote (a parser's complaint, a provider's error echoing a
        body), so it is masked like a log line (core/log_masking.py masks the copy RQ logs)."""
        masked = mask_sensitive(exc_string).text
        super().handle_job_failure(job, queue, started_job_registry, masked, execution)

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat (the worker key's last_heartbeat and TTLs), in one round trip instead of three, and not
        again within `HEARTBEAT_SECONDS` of the last one: RQ sends one before and after each dequeue (one in the
        suspension check's MULTI), and with `appendfsync always` each write waits for an fsync. The TTLs it extends
        are minutes long, so a heartbeat a second later changes nothing; one with its own timeout (a job starting,
        its TTL the job's) always goes out."""
        last = getattr(self, "last_heartbeat", None)
        if timeout is None and last is not None and (now() - last).total_seconds() < self.HEARTBEAT_SECONDS:
            return
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            return
        with self.connection.pipeline(transaction=False) as own:
            super().heartbeat(timeout, pipeline=own)
            own.execute()

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """RQ sets the worker idle after each job and again before each dequeue: the second write (an fsync with
        `appendfsync always`) changes nothing. A state in a pipeline RQ passes always goes out."""
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline)


def work(settings: Settings, *, burst: bool = False, stop: threading.Event | None = None) -> None:
    redis = connect(settings)
    store = Store(redis)
    record = connect_record(settings)
    live = LiveRouter.from_settings(settings, store=store, record=record)
    live.watch()
    live.watch_model()
    live.install_sighup()
    calendar = BusinessCalendar.from_settings(settings)
    attachments = open_attachment_store(settings)
    context.install(context.Context(settings, store, live.current, calendar, record, attachments))
    _upgrade(context.current())
    HelplineWorker.job_timeout_seconds = settings.workers.job_timeout_seconds
    stop = stop or threading.Event()
    backoff = 1.0
    while not stop.is_set():
        worker = HelplineWorker(queues(redis), connection=redis)
        try:
            # logging_level=None: rq leaves its loggers' level alone; they follow `[logging] libraries` (helpline.logs).
            worker.work(burst=burst, with_scheduler=True, logging_level=None)
        except (RedisError, OSError) as exc:  # e.g. registering the worker, or its death, while Redis is away
            log.warning("worker: Redis unavailable (%s)", exc)
        if burst or worker._shutdown_requested_date is not None:
            return  # done, or SIGTERM/SIGINT: RQ's own handlers took it
        log.warning("worker: RQ's work loop ended without a stop request; starting it again in %.0fs", backoff)
        _wait_for_store(redis, stop, backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


def _upgrade(ctx: context.Context) -> None:
    """Per-message inbox items of an older version become cases (desk/upgrade.py); idempotent, so every worker
    runs it at start. Redis being away is logged: the next start does it."""
    try:
        upgrade_inbox(ctx)
    except (StoreUnavailable, RedisError, OSError) as exc:
        log.warning("upgrade of the inbox to cases skipped: store unavailable (%s)", exc)


def _wait_for_store(redis: Redis, stop: threading.Event, first_wait: float) -> None:
    """Wait `first_wait`, then until Redis answers (or a stop signal); SIGTERM/SIGINT end the wait and the worker."""
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        wait = first_wait
        while not stop.wait(wait):
            try:
                redis.ping()
                return
            except (RedisError, OSError) as exc:
                log.warning("worker: Redis still unavailable (%s)", exc)
                wait = min(wait * 2, MAX_BACKOFF_SECONDS)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
