""" "Next" for an agent of the store: their own queues within their own capacity, a supervisor's every queue, and a
queue outside an agent's skills refused — on the real pipeline, Redis and PostgreSQL."""

from __future__ import annotations

import pytest

from core.agent_settings import Role
from core.settings import Settings
from core.store import Store
from desk.agents import AgentStore
from desk.cases import CaseError, take_next_for
from desk.context import desk_context
from tests.support.work import drain
from tests.test_pipeline import email


def test_an_agent_takes_from_their_queues_within_their_capacity_and_a_supervisor_from_any(
    store: Store, settings: Settings
) -> None:
    ctx = desk_context(settings, store)
    fraud = store.accept(email("n1@example.com", "Fraud! someone stole my card", sender="ann@example.com"), b"raw")
    store.accept(email("n2@example.com", "My card was hacked, unknown payment", sender="bob@example.com"), b"raw")
    drain(settings)
    routed = store.get_message(fraud.message_id)
    assert routed is not None and routed.decision is not None
    queue = routed.decision.queue
    agents = AgentStore(ctx.record)
    mei = agents.add("Mei", "mei@desk.example", queues=[queue], capacity=1)
    sam = agents.add("Sam", "sam@desk.example", role=Role.SUPERVISOR)

    first = take_next_for(ctx, mei)
    assert first is not None and first.agent == mei.id and first.case.queue == queue
    assert take_next_for(ctx, mei) is None  # at capacity: one taken, unanswered case
    second = take_next_for(ctx, sam)  # no queues of their own: every queue
    assert second is not None and second.case.id != first.case.id
    with pytest.raises(CaseError, match="does not work"):
        take_next_for(ctx, mei, [f"not-{queue}"])
    ctx.record.dispose()
