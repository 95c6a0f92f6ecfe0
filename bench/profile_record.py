"""Where the record's cost to the workers goes: cProfile of one `SimpleWorker` draining bench_record's messages, the
record on (a private PostgreSQL with fsync on), printing the record's functions as shares of the worker's time.

`python -m bench.profile_record [COUNT]` (not run by `python -m bench`: it prints shares, not a comparison).
"""

from __future__ import annotations

import cProfile
import logging
import pstats
import sys
import time
from collections.abc import Callable

from rq import SimpleWorker

from bench.bench_workers import _envelopes, _run
from bench.support import pipeline_desk

Match = Callable[[str, str], bool]
ROWS: dict[str, Match] = {
    "process_message": lambda f, n: n == "process_message",
    "  record step (record_routed)": lambda f, n: n == "record_routed",
    "    write_message": lambda f, n: n == "write_message",
    "    commit": lambda f, n: n == "commit" and "sqlalchemy/engine/base.py" in f,
    "    pool checkout (pre-ping)": lambda f, n: n == "_checkout" and "sqlalchemy/pool" in f,
    "    entry_for (search columns)": lambda f, n: n == "entry_for",
    "    start_retention": lambda f, n: n == "start_retention" and "store.py" in f,
    "send_reply": lambda f, n: n == "send_reply",
    "record_replies (the job recording sent replies)": lambda f, n: n == "record_replies",
    "psycopg execute": lambda f, n: n == "execute" and "psycopg/cursor.py" in f,
    "SQLAlchemy compile (or cache lookup)": lambda f, n: n == "_compile_w_cache",
    "waiting on a socket (Redis)": lambda f, n: "recv' of '_socket" in n,
    "waiting on PostgreSQL (psycopg wait)": lambda f, n: n == "wait" and f.endswith("psycopg/connection.py"),
}


def main(count: int = 200) -> None:
    logging.getLogger("rq").setLevel(logging.WARNING)
    with pipeline_desk(durable_record=True) as desk:
        for envelope, raw in _envelopes(8, "warm"):
            desk.store.accept(envelope, raw)
        _run(SimpleWorker, desk.redis)
        for envelope, raw in _envelopes(count, "profiled"):
            desk.store.accept(envelope, raw)
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.runcall(lambda: _run(SimpleWorker, desk.redis))
        total = time.perf_counter() - start
    stats = pstats.Stats(profile)
    table = stats.stats  # type: ignore[attr-defined]
    print(f"{count} messages in {total:.2f} s ({count / total:.0f} messages/s) under cProfile")
    for name, match in ROWS.items():
        seconds = max((row[3] for (f, _, n), row in table.items() if match(f, n)), default=0.0)
        calls = max((row[1] for (f, _, n), row in table.items() if match(f, n)), default=0)
        print(f"  {name:38s} {seconds:7.2f} s {100 * seconds / total:5.1f}%  {calls} calls")
    if "-v" in sys.argv:
        stats.sort_stats("cumulative").print_stats(60)


if __name__ == "__main__":
    main(int(next((a for a in sys.argv[1:] if a.isdigit()), "200")))
