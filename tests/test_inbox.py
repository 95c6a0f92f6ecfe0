"""The agents' inbox against a real Redis: moves that race agents, and the waiting -> open -> resolved lifecycle."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from core.envelope import Priority
from core.inbox import Inbox
from core.store import Store

T0 = datetime(2026, 3, 4, 7, 0, tzinfo=UTC)


def waiting_ids(inbox: Inbox) -> dict[str, tuple[str, Priority]]:
    return {m: (q, p) for q in inbox.queues() for p in Priority for m, _ in inbox.waiting(q, p)}


def test_move_keeps_the_age_and_reports_whether_it_moved(store: Store) -> None:
    inbox = Inbox(store)
    inbox.file("general", Priority.LOW, "m1", T0)
    assert inbox.move("m1", "general", Priority.LOW, "escalations", Priority.HIGH)
    assert inbox.waiting("escalations", Priority.HIGH) == [("m1", T0)]
    assert inbox.queues() == ["escalations", "general"]
    assert not inbox.move("m1", "general", Priority.LOW, "escalations", Priority.HIGH)  # no longer there
    assert waiting_ids(inbox) == {"m1": ("escalations", Priority.HIGH)}


def test_a_taken_item_is_never_moved_back_into_a_queue(store: Store) -> None:
    inbox = Inbox(store)
    inbox.file("general", Priority.NORMAL, "m1", T0)
    assert inbox.take("general") == (Priority.NORMAL, "m1")
    assert not inbox.move("m1", "general", Priority.NORMAL, "escalations", Priority.HIGH)
    assert waiting_ids(inbox) == {}


def test_moves_racing_agents_never_leave_a_taken_item_waiting(store: Store) -> None:
    """Agents take from the head of the queue while the scheduler moves the same head items away, so nearly every
    move meets a take. Each item must end up either taken (and open) or moved (and waiting), never both."""
    inbox = Inbox(store)
    ids = [f"m{i:04d}" for i in range(600)]
    for i, message_id in enumerate(ids):
        inbox.file("general", Priority.LOW, message_id, T0 + timedelta(seconds=i))
    taken: list[str] = []
    start = threading.Barrier(2)

    def agent() -> None:
        start.wait()
        while (item := inbox.take("general")) is not None:
            taken.append(item[1])

    thread = threading.Thread(target=agent)
    thread.start()
    start.wait()
    moved = [m for m in ids if inbox.move(m, "general", Priority.LOW, "escalations", Priority.NORMAL)]
    thread.join(timeout=30)

    waiting = waiting_ids(inbox)
    assert not set(taken) & set(waiting)
    assert len(taken) == len(set(taken))
    assert sorted([*taken, *waiting]) == ids  # nothing lost, nothing doubled
    assert {m for m, (q, _) in waiting.items() if q == "escalations"} == set(moved)
