"""The agents' inbox against a real Redis: moves that race agents, and the waiting -> open -> resolved lifecycle."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from core.envelope import Priority
from core.inbox import Inbox, ItemTimes, Place
from core.settings import Settings
from core.store import Store
from desk.cases import answer, resolve, take_next
from tests.conftest import ROOT
from tests.support.work import drain
from tests.test_pipeline import email
from workers.context import context_for

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
    assert sorted(m for m, _ in inbox.open_items("general")) == sorted(taken)  # every taken item is open


def test_a_taken_item_is_open_with_its_age_until_resolved(store: Store) -> None:
    inbox = Inbox(store)
    inbox.file("general", Priority.NORMAL, "m1", T0)
    taken_at = T0 + timedelta(minutes=20)
    assert inbox.take("general", "mei", taken_at) == (Priority.NORMAL, "m1")
    assert inbox.open_items("general") == [("m1", T0)]  # scored by when the customer wrote, like the inbox
    assert inbox.open_items("general", older_than=T0 - timedelta(seconds=1)) == []
    assert inbox.times("m1") == ItemTimes(taken_at=taken_at, taken_by="mei", taken_from="general")

    resolved_at = T0 + timedelta(hours=2)
    done = inbox.resolve("m1", "mei", resolved_at)
    assert done is not None and (done.queue, done.was, done.at) == ("general", Place.OPEN, resolved_at)
    assert inbox.open_items("general") == [] and waiting_ids(inbox) == {}
    times = inbox.times("m1")
    assert (times.resolved_at, times.resolved_by) == (resolved_at, "mei")
    assert inbox.resolve("m1", "li", resolved_at + timedelta(minutes=1)) is None  # once
    assert inbox.times("m1").resolved_by == "mei"


def test_a_waiting_item_can_be_resolved_without_being_taken(store: Store) -> None:
    inbox = Inbox(store)
    inbox.file("general", Priority.LOW, "m1", T0)
    inbox.move("m1", "general", Priority.LOW, "escalations", Priority.NORMAL)
    done = inbox.resolve("m1", "mei", T0 + timedelta(hours=1))
    assert done is not None and (done.queue, done.was) == ("escalations", Place.WAITING)
    assert waiting_ids(inbox) == {}
    assert inbox.take("escalations") is None
    assert inbox.resolve("m-unknown", "mei", T0) is None


def test_first_response_is_stamped_once(store: Store) -> None:
    inbox = Inbox(store)
    assert inbox.record_first_response("m1", T0, "mei")
    assert not inbox.record_first_response("m1", T0 + timedelta(hours=1), "li")
    times = inbox.times("m1")
    assert (times.first_response_at, times.first_response_by) == (T0, "mei")


def test_agents_resolving_at_once_resolve_once(store: Store) -> None:
    inbox = Inbox(store)
    ids = [f"m{i:03d}" for i in range(200)]
    for i, message_id in enumerate(ids):
        inbox.file("general", Priority.HIGH, message_id, T0 + timedelta(seconds=i))
    while inbox.take("general"):
        pass
    wins: dict[str, list[str]] = {"ann": [], "bo": []}
    start = threading.Barrier(2)

    def agent(name: str) -> None:
        start.wait()
        wins[name] += [m for m in ids if inbox.resolve(m, name, T0 + timedelta(days=1))]

    threads = [threading.Thread(target=agent, args=(name,)) for name in wins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(wins["ann"] + wins["bo"]) == ids
    assert all(inbox.times(m).resolved_by == ("ann" if m in wins["ann"] else "bo") for m in ids)
    assert inbox.open_items("general") == []


def test_agents_take_answer_and_resolve_a_routed_message(store: Store, settings: Settings) -> None:
    ctx = context_for(settings, store)
    accepted = store.accept(email("life@example.com", "my top-up failed"), b"raw")
    drain(settings)
    message_id = accepted.message_id
    routed = store.get_message(message_id)
    assert routed is not None and routed.decision is not None
    queue = routed.decision.queue
    inbox = Inbox(store)

    assert take_next(ctx, queue, "mei") is not None
    assert [m for m, _ in inbox.open_items(queue)] == [message_id]
    assert inbox.times(message_id).first_response_at is None  # taking is not responding

    answer(ctx, message_id, "We are checking the top-up.", "mei")
    answer(ctx, message_id, "Refunded.", "li")
    assert inbox.times(message_id).first_response_by == "mei"  # the first answer, once
    assert [m for m, _ in inbox.open_items(queue)] == [message_id]  # answered is not resolved

    done = resolve(ctx, message_id, "li")
    assert (done.queue, done.was) == (queue, Place.OPEN)
    assert inbox.open_items(queue) == [] and inbox.times(message_id).resolved_by == "li"
    stored = store.get_message(message_id)
    assert stored is not None
    firsts = [n for n in stored.notes if "first response by" in n]
    assert len(firsts) == 1 and "first response by mei after" in firsts[0] and "first-response target" in firsts[0]
    assert any("resolved by li after" in n and "resolution target" in n for n in stored.notes)

    with pytest.raises(ValueError, match="already resolved by li"):
        resolve(ctx, message_id, "mei")
    with pytest.raises(LookupError, match="no message m-nope"):
        resolve(ctx, "m-nope", "mei")


def test_agent_resolve_command(store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpline.cli import app

    monkeypatch.setenv("HELPLINE_REDIS__URL", str(settings.redis.url))
    accepted = store.accept(email("cli-resolve@example.com", "my top-up failed"), b"raw")
    drain(settings)
    shipped = ["--settings", str(ROOT / "settings.toml")]
    runner = CliRunner()
    first = runner.invoke(app, ["agent", "resolve", accepted.message_id, "--as", "li", *shipped])
    assert first.exit_code == 0, first.output
    assert f"{accepted.message_id}: resolved in " in first.output and "resolution target" in first.output
    again = runner.invoke(app, ["agent", "resolve", accepted.message_id, *shipped])
    assert again.exit_code == 1 and "already resolved by li" in again.output
