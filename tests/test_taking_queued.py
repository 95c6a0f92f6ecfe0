"""A pipeline job runs the pipeline jobs queued behind it (workers/jobs.py `_run_queued`), with the guarantees an RQ
job has: a worker dying with a taken message leaves it to the reconciler, a taken message that fails is retried on
its own, and nothing but a pipeline job whose message names it is ever taken from the queue."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from rq.job import Job, JobStatus
from rq.registry import FinishedJobRegistry, ScheduledJobRegistry

from core import inflight
from core.envelope import Channel, Envelope, Party
from core.inflight import Kind
from core.settings import Settings
from core.store import INBOUND_QUEUE, Store
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from workers import context, jobs
from workers.reconcile import reconcile


def mail(n: int) -> Envelope:
    address = f"taken-{n}@example.com"
    return Envelope(channel=Channel.EMAIL, provider_id=address, message_id=address, subject="top-up",
                    sender=Party(address=f"customer-{'abcdefgh'[n]}@example.com"),
                    recipient=Party(address="support@example.com"), text="my top-up failed")  # fmt: skip


def taker(store: Store, started_at: str) -> Job:
    """A pipeline job recorded as started at `started_at` (RQ's format), queued nowhere: the one taking messages."""
    job = Job.create("workers.jobs.process_message", args=("m-gone",), id="process-taker", connection=store.redis)
    job.set_status(JobStatus.STARTED)
    job.save()
    store.redis.hset(job.key, "started_at", started_at)
    return job


@pytest.fixture
def installed(store: Store, settings: Settings) -> Iterator[Store]:
    context.install(context.context_for(settings, store))
    yield store


def test_one_pipeline_job_runs_the_ones_queued_behind_it(
    installed: Store, settings: Settings, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "TAKE_FOR_SECONDS", 60.0)  # however slow the machine: bounded by a quarter job timeout
    store = installed
    accepted = [store.accept(mail(n), b"raw").message_id for n in range(4)]
    drain(settings)
    assert len(smtp_sink.wait_for(4)) == 4
    inbound = store.queue(INBOUND_QUEUE)
    assert FinishedJobRegistry(queue=inbound).get_job_ids() == [f"process-{accepted[0]}"]
    assert not any(store.redis.exists(Job.key_for(f"process-{m}")) for m in accepted[1:])  # never to run: gone
    for message_id in accepted:
        message = store.get_message(message_id)
        assert message is not None and message.ack_status == "sent"
    assert inflight.count(store, Kind.PROCESS) == 0


def test_only_a_pipeline_job_named_by_its_messages_entry_is_taken(installed: Store) -> None:
    store = installed
    inbound = store.queue(INBOUND_QUEUE)
    inbound.enqueue_call("workers.jobs.notify_escalation", args=("m-1", "late"), job_id="notify-1")
    assert store.take_queued_message("process-taker") is None  # not a pipeline job: RQ's to run
    inbound.empty()  # type: ignore[no-untyped-call]
    inbound.enqueue_call("workers.jobs.process_message", args=("m-x",), job_id="process-m-x")
    assert store.take_queued_message("process-taker") is None  # no in-flight entry names it
    accepted = store.accept(mail(0), b"raw").message_id
    assert store.redis.lindex(inbound.key, 0) == b"process-m-x"
    inbound.empty()  # type: ignore[no-untyped-call]
    store.accept(mail(1), b"raw")
    next_in_queue = store.take_queued_message("process-taker")
    assert next_in_queue is not None
    taken, message = next_in_queue
    assert taken != accepted and message is not None and message.id == taken
    (entry,) = [e for e in inflight.queued_before(store, Kind.PROCESS, time.time() + 1, 10) if e.item_id == taken]
    assert (entry.job_id, entry.taken_by) == (f"process-{taken}", "process-taker")


def test_a_message_taken_by_a_job_whose_worker_died_is_queued_again(
    installed: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    store = installed
    inbound = store.queue(INBOUND_QUEUE)
    job = taker(store, "2020-01-01T00:00:00.000000Z")  # long before any window
    accepted = store.accept(mail(2), b"raw").message_id
    assert store.take_queued_message(job.id) == (accepted, store.get_message(accepted))
    window = settings.workers.abandoned_after_seconds
    report = reconcile(settings, store, time.time() + window + 1)
    assert report.requeued == [f"process {accepted}: the job that took it from the queue started and its worker died"]
    assert inbound.job_ids == [f"process-{accepted}"]
    drain(settings)
    (ack,) = smtp_sink.wait_for(1)
    assert ack.message["In-Reply-To"] == "<taken-2@example.com>"
    assert inflight.count(store, Kind.PROCESS) == 0


def test_a_message_taken_by_a_running_job_is_left_to_it(installed: Store, settings: Settings) -> None:
    store = installed
    later = time.time() + settings.workers.abandoned_after_seconds + 1
    job = taker(store, time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(later - 1)))  # within the window
    accepted = store.accept(mail(3), b"raw").message_id
    assert store.take_queued_message(job.id) == (accepted, store.get_message(accepted))
    assert not reconcile(settings, store, later)
    job.set_status(JobStatus.FINISHED)  # ended, and the message's entry still there: its work was not done
    report = reconcile(settings, store, later)
    assert report.requeued == [f"process {accepted}: the job that took it from the queue finished without finishing it"]


def test_a_taken_message_whose_pipeline_fails_is_retried_on_its_own(
    installed: Store, settings: Settings, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = installed
    first, second = (store.accept(mail(n), b"raw").message_id for n in (4, 5))
    real = jobs._process

    def failing(ctx: context.Context, message: object) -> object:
        if getattr(message, "id", None) == second:
            raise RuntimeError("a bug in a step")
        return real(ctx, message)  # type: ignore[arg-type]

    monkeypatch.setattr(jobs, "_process", failing)
    drain(settings)
    inbound = store.queue(INBOUND_QUEUE)
    assert FinishedJobRegistry(queue=inbound).get_job_ids() == [f"process-{first}"]
    assert ScheduledJobRegistry(queue=inbound).get_job_ids() == [f"process-{second}"]  # type: ignore[no-untyped-call]
    monkeypatch.setattr(jobs, "_process", real)
    drain(settings, include_scheduled=True)
    assert {m.message["In-Reply-To"] for m in smtp_sink.wait_for(2)} == {"<taken-4@example.com>",
                                                                         "<taken-5@example.com>"}  # fmt: skip
    assert inflight.count(store, Kind.PROCESS) == 0


def test_a_paused_pipeline_job_is_taken_once_it_is_due(installed: Store) -> None:
    """A job paused while the record was away comes back under its own id (`process-{id}-paused-{ns}`)."""
    from workers.record_updates import pause_process

    store = installed
    inbound = store.queue(INBOUND_QUEUE)
    accepted = store.accept(mail(6), b"raw").message_id
    inbound.empty()  # type: ignore[no-untyped-call]
    pause_process(context.current(), accepted)
    (paused,) = ScheduledJobRegistry(queue=inbound).get_job_ids()  # type: ignore[no-untyped-call]
    job = inbound.fetch_job(paused)
    assert job is not None
    inbound.enqueue_job(job)  # due: what RQ's scheduler does
    next_in_queue = store.take_queued_message("process-taker")
    assert next_in_queue is not None and next_in_queue[0] == accepted
    assert not store.redis.exists(Job.key_for(paused))
