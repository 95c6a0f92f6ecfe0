"""Merging cases, moving a message and linking identities by hand, on the real Redis and PostgreSQL: refused across
customers, audited on every case touched."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select

from core.envelope import Channel, Envelope, Party, Priority
from core.inbox import Inbox, Status
from core.settings import Settings
from core.store import Store
from desk.cases import CaseError
from desk.context import desk_context
from desk.lookup import find
from desk.merge import link_identity, merge_cases, move_message
from record.engine import database_url
from record.models import AuditEntry, Message
from tests.support.work import drain
from tests.test_pipeline import email


def case_of(store: Store, message_id: str) -> str:
    message = store.get_message(message_id)
    assert message is not None and message.conversation_id is not None
    return message.conversation_id


def test_merge_move_and_link(store: Store, settings: Settings) -> None:
    ctx = desk_context(settings, store)
    a = store.accept(email("ma@example.com", "my top-up failed"), b"raw").message_id
    b = store.accept(email("mb@example.com", "also my card was charged twice"), b"raw").message_id
    bob = store.accept(email("mc@example.com", "my top-up failed", sender="bob@example.com"), b"raw").message_id
    sms = Envelope(channel=Channel.SMS, provider_id="SMmerge1", sender=Party(address="+8613800138009"), text="hi?")
    texted = store.accept(sms, b"raw").message_id
    drain(settings)
    case_a, case_b, case_bob, case_sms = (case_of(store, m) for m in (a, b, bob, texted))

    with pytest.raises(CaseError, match="different customers"):
        merge_cases(ctx, case_bob, case_a, "mei")
    with pytest.raises(CaseError, match="different customers"):
        move_message(ctx, bob, case_a, "mei")

    merged = merge_cases(ctx, case_b, case_a, "mei")
    assert merged.messages == [b]
    assert store.conversation(case_a)["messages"] == [a, b] and store.conversation(case_b)["messages"] == []
    assert case_of(store, b) == case_a
    assert Inbox(store).case(case_b).status is Status.RESOLVED  # type: ignore[union-attr]
    inbox = Inbox(store)
    waiting = [c for q in inbox.queues() for p in Priority for c, _ in inbox.waiting(q, p)]
    assert case_a in waiting and case_b not in waiting
    assert {m.case_id for m in find(ctx, "mb@example.com")} == {case_a}  # her Message-ID finds the merged case

    move_message(ctx, b, case_b, "mei")  # and back: the emptied case... was resolved; it gets its message again
    assert store.conversation(case_b)["messages"] == [b] and case_of(store, b) == case_b

    with pytest.raises(CaseError, match="different customers"):
        merge_cases(ctx, case_sms, case_a, "mei")
    assert link_identity(ctx, case_a, "+86 138 0013 8009", "mei") == "phone:+8613800138009"
    merge_cases(ctx, case_sms, case_a, "li")  # the same customer now
    assert texted in store.conversation(case_a)["messages"]

    engine = create_engine(database_url(settings))
    with engine.connect() as connection:
        actions = connection.execute(
            select(AuditEntry.subject_id, AuditEntry.actor, AuditEntry.action).where(
                AuditEntry.action.in_(["merge", "move-message", "link-identity"])
            )
        ).all()
        recorded = connection.scalar(select(Message.conversation_id).where(Message.id == texted))
    engine.dispose()
    assert recorded == case_a
    assert (case_a, "mei", "link-identity") in actions and (case_sms, "li", "merge") in actions
    assert (case_b, "mei", "merge") in actions and (case_b, "mei", "move-message") in actions
