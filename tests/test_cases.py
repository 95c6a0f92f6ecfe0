"""Cases end to end through the real pipeline, Redis and PostgreSQL: one inbox item per case, follow-ups that merge
their details without a second acknowledgement, the record following the case's state, and the scheduler's claim
timeout and pending_days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, create_engine, select

from core.envelope import Channel, Envelope, Party, Priority
from core.inbox import Inbox, Place, Status
from core.records import StoredMessage
from core.settings import Settings
from core.store import Store
from desk.cases import answer, take_next
from desk.context import desk_context
from desk.details import case_details
from record.engine import database_url
from record.models import AuditEntry, Conversation
from tests.support.cases import take
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from tests.test_pipeline import email
from workers.acknowledge import acknowledgement_id
from workers.scheduler import run_once


def routed(store: Store, message_id: str) -> StoredMessage:
    message = store.get_message(message_id)
    assert message is not None and message.decision is not None and message.conversation_id is not None
    return message


def record_of(settings: Settings) -> Engine:
    return create_engine(database_url(settings))


def waiting(store: Store) -> list[str]:
    inbox = Inbox(store)
    return [c for q in inbox.queues() for p in Priority for c, _ in inbox.waiting(q, p)]


def test_a_follow_up_with_the_details_joins_the_case_fills_them_and_gets_no_second_ack(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    first = store.accept(email("f1@example.com", "My top-up failed, the money is gone"), b"raw")
    drain(settings)
    (ack,) = smtp_sink.wait_for(1)
    asked = ack.message.get_content()
    assert "Amount" in asked or "amount" in asked  # the acknowledgement asks for the missing details
    case = routed(store, first.message_id).conversation_id or ""
    _, missing_before = case_details(desk_context(settings, store), case)
    assert "amount" in missing_before

    details = "It was 250.00 USD, reference TX99887766, on 2026-03-01 14:30"
    second = store.accept(email("f2@example.com", details, in_reply_to="f1@example.com"), b"raw")
    drain(settings)
    follow = routed(store, second.message_id)
    assert follow.conversation_id == case
    assert waiting(store) == [case]  # one inbox item for the case
    assert follow.ack_status is not None and follow.ack_status.startswith("suppressed: a follow-up")
    assert len(smtp_sink.messages) == 1  # no second acknowledgement
    found, missing = case_details(desk_context(settings, store), case)
    assert found.get("amount") and found.get("reference") == "TX99887766"
    assert "amount" not in missing and "reference" not in missing
    assert "amount" not in (follow.envelope.extras.get("missing_details") or [])


def test_a_chat_follow_up_gets_a_short_added_note_not_a_second_acknowledgement(
    store: Store, settings: Settings
) -> None:
    def sms(sid: str, text: str) -> Envelope:
        return Envelope(channel=Channel.SMS, provider_id=sid, sender=Party(address="+8613800138001"), text=text)

    first = store.accept(sms("SMa", "my top-up failed"), b"raw")
    drain(settings)
    second = store.accept(sms("SMb", "hello? still waiting"), b"raw")
    drain(settings)
    assert routed(store, first.message_id).conversation_id == routed(store, second.message_id).conversation_id
    full = store.get_reply(acknowledgement_id(routed(store, first.message_id)))
    short = store.get_reply(acknowledgement_id(routed(store, second.message_id)))
    assert full is not None and short is not None
    assert "added to your case HL-" in short.text and len(short.text) <= 160
    assert "added to your case" not in full.text
    assert waiting(store) == [routed(store, first.message_id).conversation_id]


def test_the_record_follows_the_case_and_every_agent_action_is_audited(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    ctx = desk_context(settings, store)
    first = store.accept(email("r1@example.com", "my top-up failed"), b"raw")
    drain(settings)
    message = routed(store, first.message_id)
    case = message.conversation_id or ""
    assert message.decision is not None
    assert take_next(ctx, [message.decision.queue], "mei") is not None
    done = answer(ctx, case, "We refunded it.", "mei")
    assert done.case.status is Status.PENDING and waiting(store) == []
    engine = record_of(settings)

    def row() -> tuple[str, str | None]:
        with engine.connect() as connection:
            found = connection.execute(
                select(Conversation.status, Conversation.assigned_agent_id).where(Conversation.id == case)
            ).one()
        return found.status, found.assigned_agent_id

    assert row() == ("pending", "mei")
    store.accept(email("r2@example.com", "it is still not there", in_reply_to="r1@example.com"), b"raw")
    drain(settings)
    state = Inbox(store).case(case)
    assert state is not None and state.status is Status.OPEN and state.place is Place.WAITING
    assert waiting(store) == [case] and row()[0] == "open"  # back in the queue, in the record too
    with engine.connect() as connection:
        actions = connection.execute(
            select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.subject_id == case).order_by(AuditEntry.id)
        ).all()
    assert [tuple(a) for a in actions] == [("mei", "take"), ("mei", "answer")]
    engine.dispose()


def test_the_scheduler_returns_unanswered_claims_and_resolves_stale_pending_cases(
    store: Store, settings: Settings
) -> None:
    timed = settings.model_copy(
        update={"cases": settings.cases.model_copy(update={"claim_timeout_minutes": 30, "pending_days": 2})}
    )
    ctx = desk_context(timed, store)
    a = store.accept(email("s1@example.com", "my top-up failed", sender="a@example.com"), b"raw")
    b = store.accept(email("s2@example.com", "my top-up failed", sender="b@example.com"), b"raw")
    drain(settings)
    case_a, case_b = routed(store, a.message_id).conversation_id or "", routed(store, b.message_id).conversation_id
    queue = routed(store, a.message_id).decision.queue  # type: ignore[union-attr]
    assert take(store, queue, "mei") is not None and take(store, queue, "li") is not None
    answer(ctx, case_b or "", "Done.", "li")  # pending
    now = datetime.now(UTC)
    report = run_once(timed, store, now + timedelta(minutes=10))
    assert report.released == [] and report.auto_resolved == []  # neither timeout has passed
    report = run_once(timed, store, now + timedelta(minutes=31))
    assert report.released == [case_a] and waiting(store) == [case_a] and Inbox(store).load("mei") == []
    report = run_once(timed, store, now + timedelta(days=2, minutes=1))
    assert report.auto_resolved == [case_b]
    state = Inbox(store).case(case_b or "")
    assert state is not None and state.status is Status.RESOLVED and state.times.resolved_by == "scheduler"
