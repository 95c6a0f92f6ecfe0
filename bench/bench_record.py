"""What writing the system of record costs the workers: the real pipeline with the record against the same pipeline
with a stand-in that records nothing, in the same run.

The stand-in exists only here: it swaps the pipeline's record writes for no-ops (`workers.pipeline.record_routed`,
`workers.jobs.record_dropped`); Helpline itself has no setting to run without its record. The record is a private
PostgreSQL cluster with fsync on (as `helpline run`'s embedded one runs), on a unix socket; Redis is a private
redis-server. The ingest side (SMTP 250, webhook 200) is not measured here: it does not touch PostgreSQL at all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from rq import SimpleWorker

from bench.bench_workers import MESSAGES, _envelopes, _pipeline_round, _run
from bench.support import fmt_ratio, pipeline_desk

ROUNDS = 3  # interleaved; the best run of each counts (noise on a shared machine only slows)


@contextmanager
def without_the_record() -> Iterator[None]:
    with (
        mock.patch("workers.pipeline.record_routed", return_value=None),
        mock.patch("workers.jobs.record_dropped", return_value=None),
    ):
        yield


def measure() -> dict[str, float]:
    logging.getLogger("rq").setLevel(logging.WARNING)
    best: dict[str, float] = {}
    with pipeline_desk(durable_record=True) as desk:
        settings, redis, store, sink = desk.settings, desk.redis, desk.store, desk.sink
        for envelope, raw in _envelopes(8, "warm"):
            store.accept(envelope, raw)
        _run(SimpleWorker, redis)
        for round_ in range(ROUNDS):
            with_record = _pipeline_round(SimpleWorker, settings, store, sink, f"r{round_}with")
            with without_the_record():
                without = _pipeline_round(SimpleWorker, settings, store, sink, f"r{round_}without")
            best["with"] = max(best.get("with", 0.0), with_record)
            best["without"] = max(best.get("without", 0.0), without)
    return best


def main() -> str:
    best = measure()
    with_record, without = best["with"], best["without"]
    cost_ms = (1 / with_record - 1 / without) * 1000  # one job per message, which writes the record
    return f"""## The system of record's cost to the workers (`bench/bench_record.py`)

The real pipeline on {MESSAGES} parsed support mails, one `SimpleWorker`: `process_message` (routing, contact,
threading, the record's transaction, inbox, and the acknowledgement by SMTP to a local sink in the same job), with the
record written to a private PostgreSQL (fsync on, unix socket) and with a bench-only stand-in that writes nothing.
Best of {ROUNDS} interleaved runs.

| pipeline | jobs/s | with / without |
|---|---|---|
| without the record (stand-in) | {without:,.0f} | |
| with the record | {with_record:,.0f} | **{fmt_ratio(with_record / without)}** |

The record costs about {cost_ms:.1f} ms per message: one transaction of three statements (data-modifying CTEs carry
the contact, identities, placement, thread references: record/writer.py) and the fsync of its commit, and the send
job's reply with its delivery event in one more; `python -m bench.profile_record` shows where the time goes. The
issue's bound is that it may cost at most 20% of end-to-end throughput. These are the workers' figures:
the ingest side (SMTP `250`, webhook `200`) writes nothing to PostgreSQL, so end to end the share is smaller.
"""


if __name__ == "__main__":
    print(main())
