"""`python -m bench.worker_without_record [OPTIONS]`: `helpline serve worker [OPTIONS]` with the system of record
swapped for a stand-in that records nothing. For bench/bench_record.py only: Helpline itself has no setting to run
without its record.

The stand-in (`without_the_record`) replaces the jobs' writes to the record with no-ops, patched where the jobs look
them up: the pipeline's record step (`workers.pipeline.record_routed`: the message's transaction and what follows
its commit, the attachments' files and the start of the hot copies' retention in Redis), a case's state on a
follow-up (`workers.pipeline.write_case_state`; the empty transaction around it stays), a dropped message
(`workers.jobs.record_dropped`) and sent replies (`workers.jobs.wait_for_record`, `workers.jobs.queue_replies`: a
reply joins no set of replies waiting for the record, and no job to record them is queued).
Everything else is the worker's own entry point, `helpline serve worker` (helpline/cli.py), unchanged: it still
connects to the record, waits for it and checks its schema at start."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from unittest import mock

COMMAND = (sys.executable, "-m", "bench.worker_without_record")  # what bench_record starts instead of the worker

_STAND_IN = (
    "workers.pipeline.record_routed",  # its None means "recorded": the pipeline goes on to filing
    "workers.pipeline.write_case_state",
    "workers.jobs.record_dropped",
    "workers.jobs.wait_for_record",
    "workers.jobs.queue_replies",
)


def _nothing(*args: object, **kwargs: object) -> None:
    """A plain function, not a MagicMock: one would keep every call's arguments (each message) for the whole run."""


@contextmanager
def without_the_record() -> Iterator[None]:
    """In this process, the jobs write nothing to the record (the in-process bench and the worker below share it)."""
    with ExitStack() as patches:
        for target in _STAND_IN:
            patches.enter_context(mock.patch(target, _nothing))
        yield


def main() -> None:
    from helpline.cli import app

    with without_the_record():
        app(args=["serve", "worker", *sys.argv[1:]], prog_name="helpline")


if __name__ == "__main__":
    main()
