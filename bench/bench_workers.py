"""Why Helpline's workers do not fork per job: rq's forking `Worker` against `SimpleWorker` on the real pipeline.

Each message goes through the real jobs: `Store.accept` enqueues `workers.jobs.process_message` on `inbound`; the
pipeline routes it and enqueues `workers.jobs.send_reply`, which sends the acknowledgement by SMTP to a local sink.
Both worker classes run in burst mode over `core.queues.queues(redis)`, as `workers.run.work` does. A no-op job
run on both classes separates RQ's own per-job cost (including the fork) from the pipeline's.

Before timing, a few messages go through in-process, so the caches a worker fills on its first job (templates,
compiled router) are warm in the parent too. A forking `Worker`'s children then inherit them: the comparison
measures the fork, not cold caches, which flatters the forking Worker (a real one never runs a job in its parent).
"""

from __future__ import annotations

import logging

from redis import Redis
from rq import Queue, SimpleWorker, Worker
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.worker import BaseWorker

from bench.support import fmt_ratio, pipeline_desk, sample_emails, timed
from core import inflight
from core.envelope import Envelope, Party
from core.inflight import Kind
from core.queues import queues
from core.settings import Settings
from core.store import Store
from ingest.email.parse import parse_email
from tests.support.smtp_sink import SmtpSink
from workers import jobs

MESSAGES = 300  # one job each: process_message, which also sends the acknowledgement (and takes none: `measure`)
NOOP_JOBS = 500
WARM_UP = 8
ROUNDS = 2  # each class runs twice, interleaved; the best run counts (noise on a shared machine only slows)
WORKER_CLASSES: tuple[type[BaseWorker], ...] = (Worker, SimpleWorker)


def noop(i: int) -> int:
    """The baseline job: whatever it costs to run it is RQ's (and the fork's) cost, not Helpline's."""
    return i


def _envelopes(count: int, tag: str) -> list[tuple[Envelope, bytes]]:
    """Parsed outside the timed part: this bench measures the workers, bench_smtp measures ingest."""
    pairs = []
    for raw in sample_emails(count, tag=tag):
        envelope = parse_email(raw).model_copy(update={"recipient": Party(address="support@wallet.example")})
        pairs.append((envelope, raw))
    return pairs


def _run(worker_class: type[BaseWorker], redis: Redis) -> None:
    worker_class(queues(redis), connection=redis).work(burst=True, logging_level="WARNING")


def _jobs_done(redis: Redis, queue_name: str | None = None) -> int:
    """Jobs that finished across Helpline's queues (or on one); a failed one means the figures are wrong, so it stops
    the bench."""
    failed = sum(FailedJobRegistry(queue=q).count for q in queues(redis))
    if failed:
        raise RuntimeError(f"{failed} jobs failed during the benchmark")
    return sum(FinishedJobRegistry(queue=q).count for q in queues(redis) if queue_name in (None, q.name))


def _pipeline_round(
    worker_class: type[BaseWorker], settings: Settings, store: Store, sink: SmtpSink, tag: str
) -> float:
    store.redis.flushdb()  # our private server: nobody else's data
    sink.messages.clear()
    for envelope, raw in _envelopes(MESSAGES, tag):
        store.accept(envelope, raw)
    seconds = timed(lambda: _run(worker_class, store.redis))
    # Every message routed (a pipeline job sends its acknowledgement and runs the ones queued behind it).
    done = MESSAGES - inflight.count(store, Kind.PROCESS)
    if done != MESSAGES or len(sink.messages) != MESSAGES:
        raise RuntimeError(f"{worker_class.__name__}: {done} jobs, {len(sink.messages)} acks for {MESSAGES} messages")
    return done / seconds


def _noop_round(worker_class: type[BaseWorker], redis: Redis) -> float:
    redis.flushdb()
    queue = Queue(queues(redis)[0].name, connection=redis)
    with redis.pipeline() as pipe:
        queue.enqueue_many([Queue.prepare_data(noop, (i,)) for i in range(NOOP_JOBS)], pipeline=pipe)
        pipe.execute()
    seconds = timed(lambda: _run(worker_class, redis))
    done = _jobs_done(redis)
    if done != NOOP_JOBS:
        raise RuntimeError(f"{worker_class.__name__}: {done} of {NOOP_JOBS} no-op jobs finished")
    return done / seconds


def measure() -> dict[tuple[str, str], float]:
    """Best jobs/s per (worker class, workload)."""
    logging.getLogger("rq").setLevel(logging.WARNING)
    best: dict[tuple[str, str], float] = {}
    # The pipeline writes the record: a private cluster, fsync off.
    with pipeline_desk(durable_record=False) as desk:
        settings, redis, store, sink = desk.settings, desk.redis, desk.store, desk.sink
        for envelope, raw in _envelopes(WARM_UP, "warm"):
            store.accept(envelope, raw)
        _run(SimpleWorker, redis)
        for round_ in range(ROUNDS):
            for worker_class in WORKER_CLASSES:
                name = worker_class.__name__
                rates = {
                    "pipeline": _pipeline_round(worker_class, settings, store, sink, f"r{round_}{name}"),
                    "noop": _noop_round(worker_class, redis),
                }
                for workload, rate in rates.items():
                    best[name, workload] = max(best.get((name, workload), 0.0), rate)
    return best


def main() -> str:
    # A pipeline job runs the ones queued behind it (workers/jobs.py `_run_queued`): off here, so that every message
    # is one job and the rows price a job, forked or not (bench_ingest measures Helpline as it runs); back on after,
    # for the benchmarks `python -m bench` runs next in this process.
    taking, jobs.TAKE_AT_MOST = jobs.TAKE_AT_MOST, 0
    try:
        best = measure()
    finally:
        jobs.TAKE_AT_MOST = taking
    fork, simple = best["Worker", "pipeline"], best["SimpleWorker", "pipeline"]
    fork_noop, simple_noop = best["Worker", "noop"], best["SimpleWorker", "noop"]
    per_job_fork_ms = (1 / fork_noop - 1 / simple_noop) * 1000
    pipeline_ms = (1 / simple - 1 / simple_noop) * 1000
    return f"""## Workers: forking `Worker` vs `SimpleWorker` (`bench/bench_workers.py`)

The real pipeline: {MESSAGES} parsed support mails (English, GB2312 and UTF-8 Chinese, some with an attachment)
stored with `Store.accept`, then one burst worker over Helpline's queues runs `process_message` (routing,
contact, threading, inbox, and the acknowledgement sent by SMTP to a local sink in the same job): {MESSAGES}
jobs (a pipeline job running the ones queued behind it is switched off here: this bench prices a job, forked or
not; bench_ingest measures Helpline as it runs). The no-op baseline is {NOOP_JOBS} jobs of `noop(i)`. Private
redis-server (appendonly no) on loopback, one worker process, caches warmed in the parent first; best of {ROUNDS}
interleaved runs.

| workload | `Worker` (fork per job) | `SimpleWorker` (Helpline) | SimpleWorker / Worker |
|---|---|---|---|
| Helpline pipeline, jobs/s | {fork:,.0f} | {simple:,.0f} | **{fmt_ratio(simple / fork)}** |
| no-op job, jobs/s | {fork_noop:,.0f} | {simple_noop:,.0f} | {fmt_ratio(simple_noop / fork_noop)} |

Per job, the fork costs about {per_job_fork_ms:.1f} ms more than running in-process (from the no-op rows); the
pipeline itself adds about {pipeline_ms:.1f} ms per job over RQ's own overhead (SimpleWorker rows). That is why
`workers/run.py` uses `SimpleWorker` and scales by running more worker processes.
"""


if __name__ == "__main__":
    print(main())
