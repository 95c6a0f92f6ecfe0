"""What each of issue 14's conditions costs the ingest target: bench_ingest's run with one condition relaxed at a time.

`python -m bench.ingest_constraints [ROUNDS]` (not run by `python -m bench`: it answers a question about the target,
not about a change; BENCHMARKS.md keeps its figures under bench_ingest's section). The target is ≥ 240 msg/s end
to end and ≥ 0.7× the naive ingester "with the embedded Redis's durability (`appendfsync always`), the record in
PostgreSQL on and the default number of workers". Each variant drains bench_ingest's 1,000 mails through the real
processes, against the naive ingester in the same variant's run:

- `as the issue asks`: `appendfsync always`, the record on, `workers.count` workers;
- `Redis fsync every second`: `appendfsync everysec` (a power cut loses up to a second of acknowledged mail);
- `no record`: the workers without their writes to PostgreSQL (bench/worker_without_record.py);
- `both relaxed`: the two together;
- `+1 worker`: as the issue asks, with one worker more than the default.

The variants take turns round by round (each round in the opposite order to the last), so the machine's other users
weigh on all of them alike; the figures are each variant's median over the rounds.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from redis import Redis

from bench.bench_ingest import WORKER, bench_mails, naive_rate, run_helpline
from bench.support import ROOT
from bench.worker_without_record import COMMAND as WORKER_WITHOUT_RECORD
from core.settings import load_settings
from tests.support.postgres import PostgresCluster
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink


@dataclass(frozen=True)
class Variant:
    name: str
    fsync_always: bool = True
    worker: Sequence[str] = WORKER
    extra_workers: int = 0


VARIANTS = (
    Variant("as the issue asks"),
    Variant("Redis fsync every second", fsync_always=False),
    Variant("no record", worker=WORKER_WITHOUT_RECORD),
    Variant("both relaxed", fsync_always=False, worker=WORKER_WITHOUT_RECORD),
    Variant("+1 worker", extra_workers=1),
)


def run_variant(variant: Variant, mails: list[bytes], sink: SmtpSink, cluster: PostgresCluster) -> dict[str, float]:
    workers = load_settings(ROOT / "settings.toml").workers.count + variant.extra_workers
    os.environ["HELPLINE_WORKERS__COUNT"] = str(workers)  # run_helpline starts workers.count of them
    sink.messages.clear()
    database = cluster.new_database()
    try:
        with RedisServer(fsync_always=variant.fsync_always) as server:
            redis = Redis.from_url(server.url)
            try:
                naive = naive_rate(redis, mails)
                redis.delete("naive:inbox")
            finally:
                redis.close()
            run = run_helpline(mails, server.url, database, sink, worker_command=variant.worker)
    finally:
        os.environ.pop("HELPLINE_WORKERS__COUNT")
        cluster.drop(database)
    if run["left"] or run["stored"] != len(mails):
        raise RuntimeError(f"{variant.name}: {run['stored']:.0f} of {len(mails)} stored, {run['left']:.0f} left")
    return {**run, "naive": naive, "vs_naive": run["drain"] / naive}


def main(rounds: int) -> None:
    mails = bench_mails()
    runs: dict[str, list[dict[str, float]]] = {variant.name: [] for variant in VARIANTS}
    sink = SmtpSink().start()
    cluster = PostgresCluster(durable=True).start()
    try:
        for round_ in range(rounds):
            for variant in VARIANTS if round_ % 2 == 0 else reversed(VARIANTS):
                run = run_variant(variant, mails, sink, cluster)
                runs[variant.name].append(run)
                print(f"round {round_ + 1}, {variant.name}: {run['drain']:.0f} msg/s end to end "
                      f"({run['vs_naive']:.2f}× naive {run['naive']:.0f}), {run['workers']:.0f} workers, "
                      f"machine CPU {run['cpu_machine_ms']:.1f} ms/msg", flush=True)  # fmt: skip
    finally:
        sink.stop()
        cluster.stop()
    print("\n| variant | end to end, msg/s | vs naive | machine's CPU, ms a message |\n|---|---:|---:|---:|")
    for name, results in runs.items():
        drain, ratio, cpu = (
            statistics.median(r[key] for r in results) for key in ("drain", "vs_naive", "cpu_machine_ms")
        )
        print(f"| {name} | {drain:.0f} | {ratio:.2f}× | {cpu:.1f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
