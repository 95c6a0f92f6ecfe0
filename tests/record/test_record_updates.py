"""The record follows what happens after a message is recorded: the send job writes its reply and outcome, webhooks
queue record-update jobs (delivery statuses, opt-outs, Telegram edits, identity links), a PostgreSQL outage pauses
jobs without spending their retries, and `/healthz` and `/metrics` show the record's lag."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import Engine, func, select

from core.envelope import Channel
from core.phone import mark_opted_out, parse_address
from core.queues import queues
from core.record_queue import (
    RECORD_QUEUE,
    Item,
    queue_replies,
    queue_update,
    record_lag,
    replies_recorded,
    replies_run_ended,
    replies_waiting,
    wait_for_record,
    waiting_replies,
)
from core.records import MessageState, Reply, utcnow
from core.settings import Settings
from core.store import INBOUND_QUEUE, Store
from desk.cases import answer, resolve
from ingest.twilio.delivery_status import apply_status
from record.engine import engine_for
from record.models import Contact, Conversation, DeliveryEvent, Message, SlaEvent
from record.models import Reply as ReplyRow
from tests.record.test_pipeline_record import email
from tests.support.smtp_sink import SmtpSink
from tests.support.web_server import WebServer
from tests.support.work import drain
from web.app import create_app
from workers import context, record_updates
from workers.context import context_for
from workers.record_updates import record_replies, update_record
from workers.scheduler import run_once

UNREACHABLE = "postgresql+psycopg://postgres@/helpline?host=/nonexistent-record-socket"


@pytest.fixture
def record(settings: Settings) -> Iterator[Engine]:
    assert settings.database.url is not None
    engine = engine_for(settings.database.url)
    yield engine
    engine.dispose()


def down(settings: Settings) -> Settings:
    return settings.model_copy(update={"database": settings.database.model_copy(update={"url": UNREACHABLE})})


def test_the_send_job_records_the_reply_and_its_outcome(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine
) -> None:
    accepted = store.accept(email("s1@example.com", "My top-up failed"), b"raw")
    drain(settings)
    with record.connect() as connection:
        reply = connection.execute(select(ReplyRow)).one()._mapping
        events = connection.scalars(select(DeliveryEvent.state).where(DeliveryEvent.reply_id == reply["id"])).all()
    assert (reply["message_id"], reply["purpose"], reply["state"]) == (accepted.message_id, "acknowledgement", "sent")
    assert reply["provider_id"] and reply["attempts"] == 1 and reply["conversation_id"] is not None
    assert list(events) == ["sent"]


def test_a_reply_to_a_message_not_recorded_yet_waits_for_it(store: Store, settings: Settings, record: Engine) -> None:
    """The job that records replies finds the reply's message not recorded yet (its pipeline job has not run): the
    reply waits, a later run is scheduled, and once the message is recorded the reply follows, in its case."""
    accepted = store.accept(email("s9@example.com", "My top-up failed"), b"raw")
    reply = Reply(
        id="r-early", message_id=accepted.message_id, channel=Channel.EMAIL, to="s9@example.com", purpose="answer",
        language="en", text="We are on it", state="sent", attempts=1, provider_id="<early@helpline>",
    )  # fmt: skip
    store.save_reply(reply)
    queue_update(store, Item.REPLY, reply.id)
    context.install(context_for(settings, store))
    assert record_replies() == "recorded 0 replies; 1 wait for their messages"
    with record.connect() as connection:
        assert connection.scalar(select(ReplyRow.id)) is None
    assert replies_waiting(store) == 1
    assert ScheduledJobRegistry(queue=store.queue(RECORD_QUEUE)).count == 1  # type: ignore[no-untyped-call]

    drain(settings, include_scheduled=True)  # the pipeline records the message, then the later run the reply
    with record.connect() as connection:
        row = connection.execute(select(ReplyRow.state, ReplyRow.conversation_id).where(ReplyRow.id == "r-early"))
        state, conversation_id = row.one()
        recorded = connection.scalar(select(Message.conversation_id).where(Message.id == accepted.message_id))
    assert state == "sent" and conversation_id == recorded is not None
    assert replies_waiting(store) == 0


def test_a_full_batch_that_only_waits_is_tried_later_not_at_once(
    store: Store, settings: Settings, record: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replies whose messages are not recorded yet fill a whole batch: the next run is scheduled, not queued at once
    (it would read the same replies again and again)."""
    monkeypatch.setattr(record_updates, "REPLY_BATCH", 2)
    for n in range(3):
        accepted = store.accept(email(f"batch{n}@example.com", "My top-up failed"), b"raw")
        reply = Reply(
            id=f"r-batch{n}", message_id=accepted.message_id, channel=Channel.EMAIL, to=f"batch{n}@example.com",
            purpose="answer", language="en", text="We are on it", state="sent", attempts=1,
        )  # fmt: skip
        store.save_reply(reply)
        queue_update(store, Item.REPLY, reply.id)
    context.install(context_for(settings, store))
    jobs = store.queue(RECORD_QUEUE)
    jobs.empty()  # type: ignore[no-untyped-call]  # the run queue_update queued: this test runs it by hand
    assert record_replies() == "recorded 0 replies; 2 wait for their messages"
    assert jobs.count == 0 and ScheduledJobRegistry(queue=jobs).count == 1  # type: ignore[no-untyped-call]
    assert replies_waiting(store) == 3


def test_replies_that_change_while_the_job_runs_wait_for_one_run_a_second_later(store: Store) -> None:
    """Under a burst the job runs about once a second, not once for every few replies: a run that ends with more
    replies waiting than it left schedules the next, and the replies changing meanwhile queue none of their own."""
    jobs = store.queue(RECORD_QUEUE)
    for n in range(3):
        with store.redis.pipeline() as pipe:
            wait_for_record(store, f"r-burst{n}", pipe)
            pipe.execute()
    replies_run_ended(store, still_waiting=1, full=False, moved_on=True)
    scheduled = ScheduledJobRegistry(queue=jobs)  # type: ignore[no-untyped-call]
    assert jobs.count == 0 and scheduled.count == 1
    queue_replies(store)  # a reply made final meanwhile: the scheduled run will take it
    assert jobs.count == 0 and scheduled.count == 1
    replies_run_ended(store, still_waiting=3, full=False, moved_on=True)  # that run: nothing new
    assert jobs.count == 0 and scheduled.count == 1
    queue_replies(store)  # the flag went with it: the next reply queues a run at once
    assert jobs.count == 1


def test_one_job_records_many_replies_and_keeps_one_that_changed_meanwhile(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine
) -> None:
    for n in range(3):
        store.accept(email(f"many{n}@example.com", "My top-up failed"), b"raw")
    drain(settings)
    with record.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(ReplyRow)) == 3
    assert replies_waiting(store) == 0

    # A delivery status arrives while the job is writing the reply's earlier state: the reply stays waiting.
    with store.redis.pipeline() as pipe:
        wait_for_record(store, "r-changing", pipe)
        pipe.execute()
    read = waiting_replies(store, 10)
    with store.redis.pipeline() as pipe:
        wait_for_record(store, "r-changing", pipe)  # changed again after it was read
        pipe.execute()
    replies_recorded(store, read)
    assert [reply_id for reply_id, _ in waiting_replies(store, 10)] == ["r-changing"]
    replies_recorded(store, waiting_replies(store, 10))
    assert replies_waiting(store) == 0


def test_a_reply_update_job_queued_by_an_earlier_version_still_reaches_the_record(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine
) -> None:
    store.accept(email("older@example.com", "My top-up failed"), b"raw")
    drain(settings)
    with record.connect() as connection:
        reply_id = connection.scalar(select(ReplyRow.id))
    assert isinstance(reply_id, str) and replies_waiting(store) == 0
    context.install(context_for(settings, store))
    assert update_record("reply", reply_id) == f"reply {reply_id} waits with the replies for the record"
    assert replies_waiting(store) == 1
    drain(settings)
    assert replies_waiting(store) == 0


def test_a_delivery_status_webhook_reaches_the_record_through_a_job(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine
) -> None:
    accepted = store.accept(email("s2@example.com", "My top-up failed"), b"raw")
    drain(settings)
    reply = Reply(
        id="r-sms1", message_id=accepted.message_id, channel=Channel.SMS, to="+14155550100", purpose="answer",
        language="en", text="We are on it", state="sent", attempts=1, provider_id="SM0001",
    )  # fmt: skip
    store.save_reply(reply)
    assert apply_status(store, {"MessageSid": "SM0001", "MessageStatus": "undelivered", "ErrorCode": "30003"})
    with record.connect() as connection:  # the webhook wrote nothing to PostgreSQL
        assert connection.scalar(select(ReplyRow.id).where(ReplyRow.id == "r-sms1")) is None
    assert store.queue(RECORD_QUEUE).count == 2  # the reply, and the note on its message
    drain(settings)
    drain(settings)  # a job run twice (a replay) changes nothing
    with record.connect() as connection:
        row = connection.execute(select(ReplyRow).where(ReplyRow.id == "r-sms1")).one()._mapping
        events = connection.scalars(select(DeliveryEvent.state).where(DeliveryEvent.reply_id == "r-sms1")).all()
        notes = connection.scalar(select(Message.notes).where(Message.id == accepted.message_id))
    assert (row["state"], row["provider_id"], row["error"]) == ("failed", "SM0001", "twilio undelivered, error 30003")
    assert list(events) == ["failed"]
    assert notes is not None and "reply r-sms1 undelivered (Twilio error 30003)" in notes


def test_an_opt_out_reaches_the_record(store: Store, settings: Settings, record: Engine) -> None:
    mark_opted_out(store, parse_address("+14155550123", "US"))
    drain(settings)
    with record.connect() as connection:
        attributes = connection.scalar(select(Contact.attributes))
    assert attributes is not None and attributes["sms_opted_out"] == "1"


def test_an_outage_pauses_jobs_without_spending_retries_and_shows_as_lag(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine
) -> None:
    accepted = store.accept(email("s3@example.com", "My top-up failed"), b"raw")
    mark_opted_out(store, parse_address("+14155550124", "US"))
    lag = record_lag(store)
    assert (lag.messages, lag.updates_waiting) == (1, 1)

    drain(down(settings))  # both jobs find the record away: they pause (scheduled again), nothing fails
    inbound = store.queue(INBOUND_QUEUE)
    assert FailedJobRegistry(queue=inbound).count == 0
    (paused,) = ScheduledJobRegistry(queue=inbound).get_job_ids()  # type: ignore[no-untyped-call]
    assert paused.startswith(f"process-{accepted.message_id}-paused-")
    job = inbound.fetch_job(paused)
    assert job is not None and job.retries_left == 6  # not one retry spent
    message = store.get_message(accepted.message_id)
    assert message is not None and message.state is MessageState.RECEIVED

    scrapeable = settings.model_copy(update={"web": settings.web.model_copy(update={"metrics_open": True})})
    server = WebServer(create_app(scrapeable, store)).start()
    try:
        health = httpx.get(f"{server.url}/healthz").json()
        metrics = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()
    assert health["status"] == "ok"
    assert health["record_lag"]["messages"] == 1 and health["record_lag"]["updates_waiting"] == 1
    assert health["record_lag"]["oldest_seconds"] >= 0
    assert "helpline_record_lag_messages 1.0" in metrics
    assert "helpline_record_updates_waiting 1.0" in metrics

    drain(settings, include_scheduled=True)  # the record is back
    assert record_lag(store).messages == 0 and record_lag(store).updates_waiting == 0
    with record.connect() as connection:
        assert connection.scalar(select(Message.id)) == accepted.message_id
        attributes = connection.scalars(select(Contact.attributes)).all()
    assert any(a.get("sms_opted_out") == "1" for a in attributes)
    assert all(q.count == 0 for q in queues(store.redis))


def test_sla_results_are_stored_when_they_happen(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine
) -> None:
    answered = store.accept(email("s4@example.com", "My top-up failed"), b"raw")
    late = store.accept(email("s5@example.com", "Where is my refund", sender="bob@example.com"), b"raw")
    drain(settings)
    ctx = context_for(settings, store)
    message = store.get_message(answered.message_id)
    assert message is not None and message.decision is not None
    assert message.conversation_id is not None
    answer(ctx, message.conversation_id, "Your top-up went through now.", "mei")
    resolve(ctx, message.conversation_id, "mei")
    run_once(settings, store, utcnow() + timedelta(days=30))  # far past every target: the other one breaches
    drain(settings)
    drain(settings)  # the scheduler's next pass, or a job run twice, adds nothing
    run_once(settings, store, utcnow() + timedelta(days=31))
    drain(settings)
    with record.connect() as connection:
        events = connection.execute(select(SlaEvent.message_id, SlaEvent.kind)).all()
        case = connection.execute(
            select(Conversation.first_response_at, Conversation.resolved_at, Conversation.status)
            .join(Message, Message.conversation_id == Conversation.id)
            .where(Message.id == answered.message_id)
        ).one()
    assert sorted(events) == sorted([
        (answered.message_id, "first_response_met"), (answered.message_id, "resolution_met"),
        (late.message_id, "first_response_breached"), (late.message_id, "resolution_breached"),
    ])  # fmt: skip
    assert case.first_response_at is not None and case.resolved_at is not None and case.status == "resolved"


def test_an_agents_correction_reaches_the_records_audit_log_once_and_the_reports_count_it(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine
) -> None:
    from desk.recategorize import Change, recategorize
    from record.reports import ReportRange, report
    from workers.record_updates import record_correction

    accepted = store.accept(email("fees@example.com", "Why was I charged a fee?"), b"raw")
    drain(settings)
    stored = store.get_message(accepted.message_id)
    assert stored is not None and stored.decision is not None and stored.conversation_id is not None
    routed_as, routed_to = stored.decision.category, stored.decision.queue
    done = recategorize(context_for(settings, store), stored.conversation_id, Change("she wants it back", "refund"),
                        "ann")  # fmt: skip
    correction = done.correction
    assert correction is not None and correction.message_id == accepted.message_id
    drain(settings)
    context.install(context_for(settings, store))  # the job again, as a retry would run it: still one row
    record_correction(accepted.message_id, routed_as, "refund", routed_to, "ann", "x", correction.at.isoformat())
    span = ReportRange(start=correction.at - timedelta(hours=1), end=correction.at + timedelta(hours=1))
    with record.begin() as connection:
        figures = [f for f in report(connection, span) if f.measure == "corrections"]
        by_ann = [
            f for f in report(connection, ReportRange(span.start, span.end, agent="ann")) if f.measure == "corrections"
        ]
        by_bob = [
            f for f in report(connection, ReportRange(span.start, span.end, agent="bob")) if f.measure == "corrections"
        ]
    assert [(f.queue, f.by, f.value) for f in figures] == [(routed_to, f"from={routed_as},to=refund", 1.0)]
    assert by_ann == figures and by_bob == []
