"""Where ingest time goes: cProfile of the ingest side and of one worker, in process, on bench_ingest's mails.

`python -m bench.profile_ingest [COUNT]` (not run by `python -m bench`: it prints shares, not a comparison). COUNT
mails (default 200) are parsed and stored with `Store.accept`, then one `HelplineWorker` drains them in burst mode;
Redis with `appendfsync always`, the record in PostgreSQL with fsync on, acknowledgements to a local SMTP sink, as in
bench_ingest. Prints each side's main functions as shares of its wall time (the table in BENCHMARKS.md).
"""

from __future__ import annotations

import cProfile
import logging
import pstats
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from bench.bench_ingest import bench_mails
from bench.support import SUPPORT_ADDRESS, pipeline_desk
from core.envelope import Party
from core.queues import queues
from ingest.email.parse import parse_email
from workers.run import HelplineWorker

Match = Callable[[str, str], bool]
ROWS: dict[str, Match] = {
    "parse_email": lambda f, n: n == "parse_email",
    "Store.accept": lambda f, n: n == "accept" and f.endswith("core/store.py"),
    "  masking gate: seal_raw": lambda f, n: n == "seal_raw",
    "process_message": lambda f, n: n == "process_message",
    "  record step": lambda f, n: n == "record_routed",
    "  thread": lambda f, n: n == "thread" and f.endswith("pipeline.py"),
    "  plan_acknowledgement": lambda f, n: n == "plan_acknowledgement",
    "  the acknowledgement sent in the job (_send_now)": lambda f, n: n == "_send_now",
    "send_reply": lambda f, n: n == "send_reply",
    "  relay (_deliver)": lambda f, n: n == "_deliver",
    "RQ dequeue": lambda f, n: n == "dequeue_job_and_maintain_ttl",
    "RQ heartbeat": lambda f, n: n == "heartbeat" and "rq/worker" in f,
    "waiting on a socket (Redis, PostgreSQL)": lambda f, n: "recv' of '_socket" in n,
}


def _cumulative(stats: pstats.Stats, match: Match) -> float:
    table = stats.stats  # type: ignore[attr-defined]
    return max((row[3] for (f, _, n), row in table.items() if match(f, n)), default=0.0)


def _shares(profile: cProfile.Profile, total: float) -> list[str]:
    stats = pstats.Stats(profile)
    shares = [(name, _cumulative(stats, match)) for name, match in ROWS.items()]
    return [f"  {name:45s} {seconds:7.2f} s {100 * seconds / total:5.1f}%" for name, seconds in shares if seconds]


def main(count: int) -> None:
    logging.getLogger("rq").setLevel(logging.WARNING)
    with pipeline_desk(durable_record=True, fsync_always=True) as desk:
        redis, store, sink = desk.redis, desk.store, desk.sink
        mails = bench_mails(count, tag="profile")

        def ingest() -> None:
            for raw in mails:
                envelope = parse_email(raw, received_at=datetime.now(UTC))  # arrival time, as the server does
                store.accept(envelope.model_copy(update={"recipient": Party(address=SUPPORT_ADDRESS)}), raw)

        def drain() -> None:
            HelplineWorker(queues(redis), connection=redis).work(burst=True, logging_level="WARNING")

        for name, action in (("ingest side", ingest), ("one worker", drain)):
            profile = cProfile.Profile()
            start = datetime.now(UTC)
            profile.runcall(action)
            total = (datetime.now(UTC) - start).total_seconds()
            print(f"{name}: {count / total:.0f} msg/s")
            print("\n".join(_shares(profile, total)))
        print(f"acknowledgements at the sink: {len(sink.messages)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
