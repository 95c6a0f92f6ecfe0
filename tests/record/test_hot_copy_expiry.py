"""A recorded message's hot copy leaves Redis after `retention.hot_message_days`, and every reader of old messages
still works: the record's row is rebuilt into the message (record/messages.py), and a writer puts it back in Redis
for the updates that follow."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from core.records import MessageState
from core.settings import Settings
from core.store import Store
from desk.cases import answer, resolve, take_next
from helpline.explain_cli import run_explain
from helpline.route_cli import replay
from record.engine import engine_for
from record.messages import load_message, recorded_message
from router.engine import compile_router
from tests.record.test_pipeline_record import email
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from workers.context import context_for
from workers.scheduler import BREACH_TAG, run_once

DAY = 86400


@pytest.fixture
def record(settings: Settings) -> Iterator[Engine]:
    assert settings.database.url is not None
    engine = engine_for(settings.database.url)
    yield engine
    engine.dispose()


def recorded(store: Store, settings: Settings, smtp_sink: SmtpSink, text: str, provider_id: str) -> str:
    """A message through the whole pipeline (recorded, filed, acknowledged); returns its id."""
    accepted = store.accept(email(provider_id, text), b"raw")
    drain(settings)
    smtp_sink.wait_for(1)
    smtp_sink.messages.clear()
    return accepted.message_id


def test_the_hot_copy_expires_once_recorded_and_updates_keep_its_expiry(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    message_id = recorded(store, settings, smtp_sink, "My top-up failed", "h1@example.com")
    key = store.key("msg", message_id)
    lifetime = int(settings.retention.hot_message_days * DAY)
    assert lifetime - 600 < store.redis.ttl(key) <= lifetime
    store.expire_message(message_id, 1000)
    store.update_message(message_id, lambda m: m.notes.append("an update after recording"))
    assert 900 < store.redis.ttl(key) <= 1000  # KEEPTTL: a change does not make the hot copy live for good


def test_the_record_rebuilds_the_message_the_pipeline_left(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine
) -> None:
    text = "Someone stole my card, fraud! 我的帳戶被凍結了"
    message_id = recorded(store, settings, smtp_sink, text, "h2@example.com")
    hot = store.get_message(message_id)
    assert hot is not None and hot.decision is not None and hot.decision.trace
    with record.connect() as connection:
        rebuilt = recorded_message(connection, message_id)
    assert rebuilt is not None
    # All but what the record does not keep: the acknowledgement's state, when it was stored.
    # and what filing for agents, after the record step, notes on the hot copy (what the message did to its case).
    lost = {"ack_status", "stored_at"}
    kept = hot.model_dump(exclude=lost)
    assert kept["envelope"]["extras"].pop("case") == "new"
    assert rebuilt.model_dump(exclude=lost) == kept
    assert rebuilt.state is MessageState.ROUTED and rebuilt.stored_at == hot.envelope.received_at


def test_explain_answer_resolve_scheduler_and_replay_work_after_the_hot_copy_expired(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine
) -> None:
    message_id = recorded(store, settings, smtp_sink, "My top-up failed and the money is gone", "h3@example.com")
    received = store.get_message(message_id).envelope.received_at  # type: ignore[union-attr]
    store.expire_message(message_id, 0)  # what the retention does after hot_message_days
    assert store.get_message(message_id) is None

    out, err = io.StringIO(), io.StringIO()
    assert run_explain(settings, message_id, stdout=out, stderr=err) == 0, err.getvalue()
    assert "category" in out.getvalue() and message_id in out.getvalue()
    assert store.get_message(message_id) is None  # a reader leaves Redis alone

    report = replay(store, compile_router(settings.router), record=record)
    assert (report.total, report.routed) == (1, 1)  # the expired message was re-decided from its recorded copy
    assert store.get_message(message_id) is None

    # The scheduler: the unanswered case is far past its first-response target.
    escalated = run_once(settings, store, received + timedelta(days=30), record=record).escalated
    assert {e.message_id for e in escalated} == {message_id}  # first response and resolution
    noted = store.get_message(message_id)  # brought back to take the escalation's note
    assert noted is not None and BREACH_TAG in noted.decision.tags  # type: ignore[union-attr]
    assert any("SLA breached" in note for note in noted.notes)

    ctx = context_for(settings, store)
    store.expire_message(message_id, 0)
    assignment = take_next(ctx, settings.scheduler.escalation_queue, "ana")
    assert assignment is not None and assignment.message.id == message_id
    case = assignment.case.id
    store.expire_message(message_id, 0)
    reply = answer(ctx, case, "We refunded it.", "ana").reply
    assert reply.to == "alice@example.com"
    store.expire_message(message_id, 0)  # gone again before the send job runs: it reads the record too
    drain(settings)
    sent = smtp_sink.wait_for(1)
    assert "We refunded it." in sent[0].message.get_content()
    store.expire_message(message_id, 0)
    done = resolve(ctx, case, "ana")
    assert done.case_id == case
    back = store.get_message(message_id)
    assert back is not None and any("resolved by ana" in note for note in back.notes)
    lifetime = int(settings.retention.hot_message_days * DAY)
    assert 0 < store.redis.ttl(store.key("msg", message_id)) <= lifetime  # warm again, for one more hot period


def test_an_unknown_message_is_still_unknown(store: Store, settings: Settings, record: Engine) -> None:
    assert load_message(store, record, "m-nothing", warm_seconds=60) is None
    err = io.StringIO()
    assert run_explain(settings, "m-nothing", stdout=io.StringIO(), stderr=err) == 1
    assert "no stored message" in err.getvalue()


def test_queue_report_training_history_and_recategorize_read_expired_messages(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine
) -> None:
    from desk.queue_report import queue_report
    from desk.recategorize import Change, recategorize
    from workers.context import context_for
    from workers.triage import desk_history

    message_id = recorded(store, settings, smtp_sink, "My top-up failed and the money is gone", "h4@example.com")
    hot = store.get_message(message_id)
    assert hot is not None and hot.decision is not None
    received = hot.envelope.received_at
    store.expire_message(message_id, 0)

    late = received + timedelta(days=30)
    rows = [r for r in queue_report(settings, store, late) if r.depth]  # the case's own state is in Redis
    assert [(r.queue, r.depth, r.breached) for r in rows] == [(hot.decision.queue, 1, 1)]

    other = next(c for c in settings.router.categories if c != hot.decision.category)
    assert hot.conversation_id is not None
    recategorize(context_for(settings, store), hot.conversation_id, Change("wrong category", other), "ana")
    corrected = store.get_message(message_id)
    assert corrected is not None and corrected.decision is not None and corrected.decision.category == other
    assert 0 < store.redis.ttl(store.key("msg", message_id)) <= settings.retention.hot_message_days * 86400

    store.expire_message(message_id, 0)
    history = desk_history(store, settings.router, record)
    assert [(e.category, e.source) for e in history] == [(other, "correction")]
    assert desk_history(store, settings.router) == []  # Redis alone has forgotten its text
