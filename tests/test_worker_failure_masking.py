"""A failed job's traceback, as RQ keeps it in Redis, holds no secret the customer wrote (workers/run.py)."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from workers.run import HelplineWorker


def test_failed_jobs_traceback_is_masked_in_redis(redis: Redis) -> None:
    queue = Queue("masking-test", connection=redis)
    job = queue.enqueue("tests.support.failing_jobs.fail_quoting_a_card")

    HelplineWorker([queue], connection=redis).work(burst=True)

    job.refresh()  # type: ignore[no-untyped-call]
    assert job.is_failed
    kept = job.latest_result()
    assert kept is not None and kept.exc_string is not None
    assert "cannot read" in kept.exc_string  # the traceback is kept, for whoever investigates...
    assert "4111 1111 1111 1111" not in kept.exc_string  # ...without the card number
