"""Run every queued Helpline job in-process until the queues are empty: deterministic, and errors surface here."""

from __future__ import annotations

from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from core.queues import queues
from core.redis_conn import connect
from core.settings import Settings
from core.store import Store
from workers import context


def drain(settings: Settings, *, include_scheduled: bool = False, rounds: int = 10) -> None:
    """Work the queues until empty. With `include_scheduled`, retries scheduled for later run now."""
    redis = connect(settings)
    context.install(context.context_for(settings, Store(redis)))
    worker_queues = queues(redis)
    for _ in range(rounds):
        if include_scheduled:
            for queue in worker_queues:
                registry = ScheduledJobRegistry(queue=queue)  # type: ignore[no-untyped-call]
                for job_id in registry.get_job_ids():
                    queue.enqueue_job(queue.fetch_job(job_id))  # type: ignore[arg-type]
                    registry.remove(job_id)
        if not any(queue.count for queue in worker_queues):
            return
        SimpleWorker(worker_queues, connection=redis).work(burst=True, logging_level="WARNING")
    raise AssertionError(f"queues still busy after {rounds} rounds: {[(q.name, q.count) for q in worker_queues]}")
