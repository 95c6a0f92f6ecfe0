"""What one message costs a worker, in process: CPU time, Redis commands and Redis round trips per message.

`python -m bench.worker_cost [COUNT] [ROUNDS]` (not run by `python -m bench`: it prints figures for one tree, to be
compared with another tree's run in the same hour, as BENCHMARKS.md's before/after tables are). COUNT of bench_ingest's
mails (default 300) are parsed and stored with `Store.accept`, then one `HelplineWorker` drains them in burst mode;
Redis with `appendfsync always`, the record in PostgreSQL with fsync on, acknowledgements to a local SMTP sink, as
in bench_ingest. The first round warms the caches; each later round prints the worker's CPU time per message
(`time.process_time`: the machine's other users inflate it far less than wall time), its wall time, the Redis
commands per message (the server's `commandstats`) and the round trips per message (requests the client sent,
a pipeline or MULTI counting once).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from redis.connection import AbstractConnection

from bench.bench_ingest import bench_mails
from bench.support import SUPPORT_ADDRESS, pipeline_desk
from core.envelope import Party
from core.queues import queues
from ingest.email.parse import parse_email
from workers.run import HelplineWorker


@contextmanager
def counting_round_trips() -> Iterator[list[int]]:
    """Counts every request the Redis client sends (a command, or a whole pipeline) while the block runs."""
    count = [0]
    original = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        count[0] += 1
        original(self, command, check_health)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    try:
        yield count
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


def _commands(redis: Redis) -> int:
    return sum(int(row["calls"]) for row in redis.info("commandstats").values())


def main(count: int, rounds: int) -> None:
    logging.getLogger("rq").setLevel(logging.WARNING)
    with pipeline_desk(durable_record=True, fsync_always=True) as desk:
        redis, store = desk.redis, desk.store
        for number in range(rounds + 1):
            for raw in bench_mails(count, tag=f"cost{number}"):
                envelope = parse_email(raw, received_at=datetime.now(UTC))
                store.accept(envelope.model_copy(update={"recipient": Party(address=SUPPORT_ADDRESS)}), raw)
            commands = _commands(redis)
            cpu, wall = time.process_time(), time.perf_counter()
            with counting_round_trips() as round_trips:
                HelplineWorker(queues(redis), connection=redis).work(burst=True, logging_level="WARNING")
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            commands = _commands(redis) - commands - 1  # the INFO that read them
            if number == 0:
                continue  # warming up: templates, router, triage model, statement cache
            print(
                f"round {number}: worker CPU {1000 * cpu / count:.2f} ms/msg, wall {1000 * wall / count:.2f} ms/msg, "
                f"{commands / count:.1f} Redis commands/msg, {round_trips[0] / count:.1f} round trips/msg",
                flush=True,
            )
        print(f"acknowledgements at the sink: {len(desk.sink.messages)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300, int(sys.argv[2]) if len(sys.argv) > 2 else 3)
