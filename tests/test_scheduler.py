from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rq import Queue

from core.envelope import Channel, Decision, Envelope, Party, Priority
from core.inbox import Inbox
from core.records import MessageState, StoredMessage
from core.settings import Settings
from core.store import Store
from workers.scheduler import BREACH_TAG, run_once, serve

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
    Inbox(store).file(queue, priority, message_id, received)
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


def test_an_item_taken_by_an_agent_is_not_escalated(settings: Settings, store: Store) -> None:
    routed(store, "m-taken", "security", "security", Priority.URGENT, NOW - timedelta(hours=1))
    assert Inbox(store).take("security") == (Priority.URGENT, "m-taken")
    assert not run_once(settings, store, NOW)


def test_notify_job_is_enqueued_once(settings: Settings, store: Store) -> None:
    notifying = settings.model_copy(
        update={"scheduler": settings.scheduler.model_copy(update={"notify_job": "workers.jobs.notify_escalation"})}
    )
    routed(store, "m-late", "security", "security", Priority.URGENT, NOW - timedelta(hours=1))
    run_once(notifying, store, NOW)
    run_once(notifying, store, NOW)
    jobs = Queue(settings.scheduler.notify_queue, connection=store.redis).jobs
    assert [(j.id, j.func_name, j.args[0]) for j in jobs] == [
        ("escalation-m-late", "workers.jobs.notify_escalation", "m-late")
    ]
    assert "first response due" in jobs[0].args[1]


def test_waiting_low_work_is_promoted_by_age(settings: Settings, store: Store) -> None:
    inbox = Inbox(store)
    # Inbox items without SLA-relevant messages: promotion looks only at the inbox and its age.
    inbox.file("wallet", Priority.LOW, "m-4h", NOW - timedelta(hours=4, minutes=1))
    inbox.file("wallet", Priority.LOW, "m-13h", NOW - timedelta(hours=13))
    inbox.file("wallet", Priority.LOW, "m-new", NOW - timedelta(minutes=30))
    inbox.file("wallet", Priority.NORMAL, "m-normal-13h", NOW - timedelta(hours=13))

    report = run_once(settings, store, NOW)

    moves = sorted((p.message_id, p.src, p.dst) for p in report.promoted)
    assert moves == [
        ("m-13h", Priority.LOW, Priority.HIGH),
        ("m-4h", Priority.LOW, Priority.NORMAL),
        ("m-normal-13h", Priority.NORMAL, Priority.HIGH),
    ]
    assert where(store, "m-new") == ("wallet", Priority.LOW)
    # The age is kept, so the oldest promoted item is still first in line at its new priority.
    assert inbox.take("wallet") == (Priority.HIGH, "m-13h")
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
