"""The worker's heartbeat: RQ's keys, written in one round trip, not again within a second (workers/run.py)."""

from __future__ import annotations

from datetime import timedelta

from redis import Redis
from rq import Queue

from workers.run import HelplineWorker


def a_worker(redis: Redis) -> HelplineWorker:
    """A registered worker whose heartbeats are an hour apart: "right after the last one" holds however slowly the
    test runs, and `its_throttle_passes` moves its last heartbeat back instead of waiting."""
    worker = HelplineWorker([Queue("inbound", connection=redis)], connection=redis)
    worker.HEARTBEAT_SECONDS = 3600.0
    worker.register_birth()  # type: ignore[no-untyped-call]
    return worker


def its_throttle_passes(worker: HelplineWorker) -> None:
    assert worker.last_heartbeat is not None
    worker.last_heartbeat -= timedelta(seconds=worker.HEARTBEAT_SECONDS)


def test_a_heartbeat_extends_the_worker_key_and_one_right_after_it_is_skipped(redis: Redis) -> None:
    worker = a_worker(redis)
    redis.persist(worker.key)
    its_throttle_passes(worker)
    worker.heartbeat()
    first = redis.hget(worker.key, "last_heartbeat")
    assert first is not None and redis.ttl(worker.key) > 0  # written, with its TTL
    redis.persist(worker.key)
    worker.heartbeat()  # right after the last one: nothing to extend
    assert redis.ttl(worker.key) == -1 and redis.hget(worker.key, "last_heartbeat") == first
    its_throttle_passes(worker)
    worker.heartbeat()
    assert redis.ttl(worker.key) > 0 and redis.hget(worker.key, "last_heartbeat") != first
    worker.heartbeat(timeout=600)  # an explicit timeout always goes out
    assert redis.ttl(worker.key) > 420
    worker.register_death()  # type: ignore[no-untyped-call]


def test_the_suspension_checks_heartbeat_is_skipped_too_but_a_job_starting_writes_its_own(redis: Redis) -> None:
    from rq.suspension import is_suspended

    worker = a_worker(redis)
    worker.heartbeat()
    redis.persist(worker.key)
    assert not is_suspended(redis, worker)  # RQ's check, each turn of its loop: the heartbeat rides in its MULTI
    assert redis.ttl(worker.key) == -1  # within the second: nothing written (a write waits for an fsync)
    its_throttle_passes(worker)
    assert not is_suspended(redis, worker)
    assert redis.ttl(worker.key) > 0
    redis.persist(worker.key)
    with redis.pipeline() as pipe:  # a job starting: RQ's heartbeat with the job's TTL, in its pipeline
        worker.heartbeat(300, pipeline=pipe)
        pipe.execute()
    assert redis.ttl(worker.key) > 240
    worker.register_death()  # type: ignore[no-untyped-call]


def test_setting_the_state_it_has_writes_nothing(redis: Redis) -> None:
    worker = a_worker(redis)
    worker.set_state("idle")
    assert redis.hget(worker.key, "state") == b"idle"
    redis.hset(worker.key, "state", "marker")
    worker.set_state("idle")  # RQ does this before each dequeue, right after setting it at the job's end
    assert redis.hget(worker.key, "state") == b"marker"
    worker.set_state("busy")
    assert redis.hget(worker.key, "state") == b"busy"
    worker.register_death()  # type: ignore[no-untyped-call]
