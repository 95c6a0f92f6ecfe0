from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rq import Queue

from core.envelope import Channel, Decision, Envelope, Party, Priority
from core.inbox import Inbox
from core.queues import NOTIFY_QUEUE
from core.records import MessageState, StoredMessage
from core.settings import Settings
from core.store import Store
from desk.cases import answer, resolve, take_next
from router.sla import SlaKind, SlaPolicy
from tests.support.cases import file_case, take
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from tests.test_pipeline import email
from workers.context import context_for
from workers.scheduler import BREACH_TAG, RESOLUTION_TAG, run_once, serve

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=SH)  # a Wednesday afternoon: the general queue is open


def routed(
    store: Store, message_id: str, category: str, queue: str, priority: Priority, received: datetime
) -> StoredMessage:
    envelope = Envelope(
        channel=Channel.SMS, provider_id=message_id, received_at=received, sender=Party(address="+8613812345678")
    )
    message = StoredMessage(
        id=message_id,
        envelope=envelope,
        state=MessageState.ROUTED,
        decision=Decision(category=category, priority=priority, queue=queue),
    )
    store.save_message(message)
    file_case(store, queue, priority, message_id, received)
    return message


def where(store: Store, message_id: str) -> tuple[str, Priority] | None:
    inbox = Inbox(store)
    for queue in inbox.queues():
        for priority in Priority:
            if any(m == message_id for m, _ in inbox.waiting(queue, priority)):
                return queue, priority
    return None


def test_breach_escalates_once_and_is_recorded(settings: Settings, store: Store) -> None:
    routed(store, "m-late", "security", "security", Priority.URGENT, NOW - timedelta(minutes=11))  # target 10 min
    routed(store, "m-fine", "security", "security", Priority.HIGH, NOW - timedelta(minutes=11))  # target 30 min

    report = run_once(settings, store, NOW)

    assert [e.message_id for e in report.escalated] == ["m-late"]
    assert where(store, "m-late") == ("escalations", Priority.URGENT)
    assert where(store, "m-fine") == ("security", Priority.HIGH)
    stored = store.get_message("m-late")
    assert stored is not None and stored.decision is not None
    assert BREACH_TAG in stored.decision.tags
    assert any("SLA breached" in note and "escalations/urgent" in note for note in stored.notes)
    assert store.redis.zscore(store.key("escalations"), "m-late") == NOW.timestamp()

    again = run_once(settings, store, NOW)  # idempotent: nothing more happens
    assert not again
    stored_again = store.get_message("m-late")
    assert stored_again is not None and len(stored_again.notes) == 1


def test_escalation_raises_priority_one_step(settings: Settings, store: Store) -> None:
    routed(store, "m-normal", "wallet", "wallet", Priority.NORMAL, NOW - timedelta(hours=5))  # 24/7, target 4 h
    report = run_once(settings, store, NOW)
    assert where(store, "m-normal") == ("escalations", Priority.HIGH)
    assert report.escalated[0].due == NOW - timedelta(hours=1)


def test_business_hours_hold_back_escalation_over_the_weekend(settings: Settings, store: Store) -> None:
    friday_5pm = datetime(2026, 3, 6, 17, 0, tzinfo=SH)
    routed(store, "m-weekend", "general", "general", Priority.NORMAL, friday_5pm)
    monday_11am = datetime(2026, 3, 9, 11, 0, tzinfo=SH)  # 3 business hours: target 4
    assert not run_once(settings, store, monday_11am).escalated
    assert [e.message_id for e in run_once(settings, store, monday_11am + timedelta(hours=1, seconds=1)).escalated] == [
        "m-weekend"
    ]


def test_a_taken_unanswered_item_is_flagged_once_but_stays_with_its_agent(settings: Settings, store: Store) -> None:
    routed(store, "m-taken", "security", "security", Priority.URGENT, NOW - timedelta(minutes=30))  # target 10 min
    inbox = Inbox(store)
    assert take(store, "security", "mei", NOW - timedelta(minutes=25)) == (Priority.URGENT, "m-taken")

    report = run_once(settings, store, NOW)

    assert [(e.message_id, e.kind, e.moved) for e in report.escalated] == [("m-taken", SlaKind.FIRST_RESPONSE, False)]
    assert where(store, "m-taken") is None and [m for m, _ in inbox.open_items("security")] == ["m-taken"]
    stored = store.get_message("m-taken")
    assert stored is not None and stored.decision is not None and BREACH_TAG in stored.decision.tags
    assert "taken by mei but not answered yet" in stored.notes[-1]
    assert store.redis.zscore(store.key("escalations"), "m-taken") == NOW.timestamp()
    assert not run_once(settings, store, NOW + timedelta(minutes=5))  # once


def test_an_answered_item_has_had_its_first_response(settings: Settings, store: Store) -> None:
    routed(store, "m-answered", "security", "security", Priority.URGENT, NOW - timedelta(minutes=30))
    routed(store, "m-waiting", "security", "security", Priority.URGENT, NOW - timedelta(minutes=31))
    inbox = Inbox(store)
    take(store, "security", "mei", NOW - timedelta(minutes=29))  # the older one: m-waiting
    inbox.record_first_response("m-waiting", NOW - timedelta(minutes=28), "mei")
    inbox.record_first_response("m-answered", NOW - timedelta(minutes=5), "li")  # answered while still waiting
    assert not run_once(settings, store, NOW).escalated
    assert where(store, "m-answered") == ("security", Priority.URGENT)


def test_an_item_not_resolved_in_time_is_escalated_once_and_notified(settings: Settings, store: Store) -> None:
    notifying = settings.model_copy(
        update={"scheduler": settings.scheduler.model_copy(update={"notify_job": "workers.jobs.notify_escalation"})}
    )
    ctx = context_for(settings, store)
    accepted = store.accept(email("slow@example.com", "my top-up failed", received_at=NOW - timedelta(days=5)), b"raw")
    done = store.accept(email("done@example.com", "my top-up failed", received_at=NOW - timedelta(days=5)), b"raw")
    drain(settings)
    message = store.get_message(accepted.message_id)
    assert message is not None and message.decision is not None
    d = message.decision
    for _ in range(2):
        assert take_next(ctx, d.queue, "mei") is not None
    case, done_case = message.conversation_id or "", store.get_message(done.message_id).conversation_id or ""  # type: ignore[union-attr]
    # Answered, and the customer wrote again (the case stays open with mei): only the resolution is late.
    Inbox(store).record_first_response(case, NOW - timedelta(days=5, minutes=-30), "mei")
    answer(ctx, done_case, "Refunded.", "mei")
    resolve(ctx, done_case, "mei")
    due = SlaPolicy.from_settings(settings).resolution_due(d.category, d.priority, d.queue, NOW - timedelta(days=5))
    assert due is not None

    assert not run_once(notifying, store, due - timedelta(minutes=1)).escalated
    report = run_once(notifying, store, due + timedelta(minutes=1))

    assert [(e.message_id, e.kind, e.moved) for e in report.escalated] == [
        (accepted.message_id, SlaKind.RESOLUTION, False)
    ]
    stored = store.get_message(accepted.message_id)
    assert stored is not None and stored.decision is not None
    assert RESOLUTION_TAG in stored.decision.tags and BREACH_TAG not in stored.decision.tags
    assert "resolution SLA breached" in stored.notes[-1] and f"still open with mei from {d.queue}" in stored.notes[-1]
    assert store.redis.zscore(store.key("escalations", "resolution"), accepted.message_id) is not None
    jobs = Queue(NOTIFY_QUEUE, connection=store.redis).jobs
    assert [(j.id, j.args[0]) for j in jobs] == [(f"resolution-{accepted.message_id}", accepted.message_id)]
    assert "resolution due" in jobs[0].args[1]

    assert not run_once(notifying, store, due + timedelta(hours=1))  # once
    resolve(ctx, case, "mei")
    assert Inbox(store).open_items(d.queue) == []
    resolved = store.get_message(accepted.message_id)
    assert resolved is not None and "resolution target" in resolved.notes[-1] and "late" in resolved.notes[-1]


def test_a_waiting_item_past_both_targets_moves_and_is_flagged_for_resolution(settings: Settings, store: Store) -> None:
    routed(store, "m-old", "wallet", "wallet", Priority.NORMAL, NOW - timedelta(hours=25))  # 24/7: 4 h and 24 h
    report = run_once(settings, store, NOW)
    assert sorted((e.kind, e.moved) for e in report.escalated) == [
        (SlaKind.FIRST_RESPONSE, True),
        (SlaKind.RESOLUTION, False),
    ]
    assert where(store, "m-old") == ("escalations", Priority.HIGH)
    stored = store.get_message("m-old")
    assert stored is not None and stored.decision is not None
    assert {BREACH_TAG, RESOLUTION_TAG} <= set(stored.decision.tags)
    assert "still waiting in escalations" in stored.notes[-1]
    assert not run_once(settings, store, NOW).escalated


def test_notify_job_is_enqueued_once(settings: Settings, store: Store) -> None:
    notifying = settings.model_copy(
        update={"scheduler": settings.scheduler.model_copy(update={"notify_job": "workers.jobs.notify_escalation"})}
    )
    routed(store, "m-late", "security", "security", Priority.URGENT, NOW - timedelta(hours=1))
    run_once(notifying, store, NOW)
    run_once(notifying, store, NOW)
    jobs = Queue(NOTIFY_QUEUE, connection=store.redis).jobs
    assert [(j.id, j.func_name, j.args[0]) for j in jobs] == [
        ("escalation-m-late", "workers.jobs.notify_escalation", "m-late")
    ]
    assert "first response due" in jobs[0].args[1]


def test_waiting_low_work_is_promoted_by_age(settings: Settings, store: Store) -> None:
    inbox = Inbox(store)
    assert inbox.queues() == []
    # Inbox items without SLA-relevant messages: promotion looks only at the inbox and its age.
    file_case(store, "wallet", Priority.LOW, "m-4h", NOW - timedelta(hours=4, minutes=1))
    file_case(store, "wallet", Priority.LOW, "m-13h", NOW - timedelta(hours=13))
    file_case(store, "wallet", Priority.LOW, "m-new", NOW - timedelta(minutes=30))
    file_case(store, "wallet", Priority.NORMAL, "m-normal-13h", NOW - timedelta(hours=13))

    report = run_once(settings, store, NOW)

    moves = sorted((p.message_id, p.src, p.dst) for p in report.promoted)
    assert moves == [
        ("m-13h", Priority.LOW, Priority.HIGH),
        ("m-4h", Priority.LOW, Priority.NORMAL),
        ("m-normal-13h", Priority.NORMAL, Priority.HIGH),
    ]
    assert where(store, "m-new") == ("wallet", Priority.LOW)
    # The age is kept, so the oldest promoted item is still first in line at its new priority.
    assert take(store, "wallet") == (Priority.HIGH, "m-13h")
    assert not run_once(settings, store, NOW).promoted


def test_promotion_counts_business_time(settings: Settings, store: Store) -> None:
    routed(store, "m-low", "general", "general", Priority.LOW, datetime(2026, 3, 6, 17, 0, tzinfo=SH))
    monday_10am = datetime(2026, 3, 9, 10, 0, tzinfo=SH)  # 66 hours later, 2 of them business hours
    assert not run_once(settings, store, monday_10am).promoted
    report = run_once(settings, store, monday_10am + timedelta(hours=2))
    assert [(p.message_id, p.dst) for p in report.promoted] == [("m-low", Priority.NORMAL)]
    stored = store.get_message("m-low")
    assert stored is not None and "promoted low -> normal in general after waiting 4h00m" in stored.notes[-1]


def test_serve_runs_passes_against_the_configured_redis(settings: Settings, store: Store) -> None:
    routed(store, "m-old", "security", "security", Priority.URGENT, datetime(2026, 1, 5, 9, 0, tzinfo=SH))
    fast = settings.model_copy(update={"scheduler": settings.scheduler.model_copy(update={"interval_seconds": 0.01})})
    serve(fast, stop=threading.Event(), max_runs=2)
    assert where(store, "m-old") == ("escalations", Priority.URGENT)


def test_overdue_voicemail_is_routed_by_the_scheduler(settings: Settings, store: Store) -> None:
    from core.records import utcnow
    from ingest.twilio import voicemail_parking

    sid = "RE" + "7" * 32
    recording = {"CallSid": "CA" + "7" * 32, "From": "+8613812345678", "To": "+15005550006", "RecordingSid": sid,
                 "RecordingUrl": "https://api.twilio.com/rec/" + sid, "RecordingDuration": "9"}  # fmt: skip
    voicemail_parking.park(
        store, sid, {"recording": recording, "lang": "en", "category": ""}, utcnow() - timedelta(hours=1)
    )
    assert run_once(settings, store, datetime.now(SH)).voicemails == 1
    (message_id,) = store.message_ids()
    message = store.get_message(message_id)
    assert message is not None and message.envelope.channel is Channel.VOICE
    assert run_once(settings, store, datetime.now(SH)).voicemails == 0


def test_default_notify_job_emails_the_supervisors(settings: Settings, store: Store, smtp_sink: SmtpSink) -> None:
    from tests.support.work import drain

    notifying = settings.model_copy(
        update={"scheduler": settings.scheduler.model_copy(update={"notify_addresses": ["duty@wallet.example"]})}
    )
    routed(store, "m-page", "security", "security", Priority.URGENT, NOW - timedelta(hours=1))
    run_once(notifying, store, NOW)
    drain(notifying)
    (notice,) = smtp_sink.wait_for(1)
    assert notice.rcpt_tos == ["duty@wallet.example"]
    assert notice.message["Subject"].startswith("[SLA]") and "m-page" in notice.message.get_content()
