"""The agents' inbox against a real Redis: one item per case, its order, moves and takes that race agents, and the
open -> pending -> resolved lifecycle."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from core.envelope import Priority
from core.inbox import Filed, Inbox, Place, Status
from core.settings import Settings
from core.store import Store
from desk.cases import answer, resolve, take_next
from tests.conftest import ROOT
from tests.support.cases import file_case, take
from tests.support.work import drain
from tests.test_pipeline import email
from workers.context import context_for

T0 = datetime(2026, 3, 4, 7, 0, tzinfo=UTC)
WEEK = 7 * 86400


def waiting_ids(inbox: Inbox) -> dict[str, tuple[str, Priority]]:
    return {m: (q, p) for q in inbox.queues() for p in Priority for m, _ in inbox.waiting(q, p)}


def test_a_follow_up_adds_no_item_and_may_raise_the_priority_never_lower_it(store: Store) -> None:
    inbox = Inbox(store)
    assert file_case(store, "general", Priority.NORMAL, "t1", T0).outcome is Filed.NEW
    later = file_case(store, "general", Priority.LOW, "t1", T0 + timedelta(minutes=5), message_id="m2")
    assert (later.outcome, later.priority, later.raised) == (Filed.FOLLOW_UP, Priority.NORMAL, False)
    assert waiting_ids(inbox) == {"t1": ("general", Priority.NORMAL)}
    raised = file_case(store, "general", Priority.URGENT, "t1", T0 + timedelta(minutes=9), message_id="m3")
    assert (raised.outcome, raised.priority, raised.raised) == (Filed.FOLLOW_UP, Priority.URGENT, True)
    assert waiting_ids(inbox) == {"t1": ("general", Priority.URGENT)}
    assert inbox.waiting("general", Priority.URGENT) == [("t1", T0)]  # the customer's wait began with the first
    again = file_case(store, "general", Priority.URGENT, "t1", T0 + timedelta(minutes=9), message_id="m3")
    assert again.outcome is Filed.KNOWN  # a re-run of the job
    state = inbox.case("t1")
    assert state is not None and state.seq == 3 and state.lead == "t1"


def test_order_is_priority_then_due_then_age(store: Store) -> None:
    due = T0 + timedelta(hours=4)
    file_case(store, "q", Priority.NORMAL, "late-due", T0 - timedelta(hours=2), due=due + timedelta(hours=1))
    file_case(store, "q", Priority.NORMAL, "young", T0, due=due)
    file_case(store, "q", Priority.NORMAL, "old", T0 - timedelta(hours=1), due=due)  # same due, waited longer
    file_case(store, "q", Priority.HIGH, "high", T0, due=due + timedelta(days=1))
    order = [take(store, "q") for _ in range(4)]
    assert [item[1] for item in order if item] == ["high", "old", "young", "late-due"]


def test_move_keeps_the_place_in_line_and_reports_whether_it_moved(store: Store) -> None:
    inbox = Inbox(store)
    file_case(store, "general", Priority.LOW, "t1", T0)
    assert inbox.move("t1", "general", Priority.LOW, "escalations", Priority.HIGH)
    assert inbox.waiting("escalations", Priority.HIGH) == [("t1", T0)]
    assert inbox.queues() == ["escalations", "general"]
    assert not inbox.move("t1", "general", Priority.LOW, "escalations", Priority.HIGH)  # no longer there
    state = inbox.case("t1")
    assert state is not None and (state.queue, state.priority) == ("escalations", Priority.HIGH)


def test_agents_racing_never_get_the_same_case_and_capacity_holds(store: Store) -> None:
    inbox = Inbox(store)
    ids = [f"t{i}" for i in range(60)]
    for i, case_id in enumerate(ids):
        file_case(store, "general" if i % 2 else "billing", Priority.NORMAL, case_id, T0 + timedelta(seconds=i))
    got: dict[str, list[str]] = {"ann": [], "bo": [], "cy": []}

    def agent(name: str) -> None:
        while (item := take(store, ["general", "billing"], name, capacity=25)) is not None:
            got[name].append(item[1])

    threads = [threading.Thread(target=agent, args=(name,)) for name in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = [c for cases in got.values() for c in cases]
    assert len(taken) == len(set(taken)) == 60  # every case once, to one agent
    assert all(len(cases) <= 25 for cases in got.values())
    assert all(sorted(inbox.load(name)) == sorted(cases) for name, cases in got.items())
    file_case(store, "general", Priority.NORMAL, "t-one", T0)
    assert take(store, "general", "dee", capacity=1) == (Priority.NORMAL, "t-one")
    file_case(store, "general", Priority.URGENT, "t-more", T0)
    assert take(store, "general", "dee", capacity=1) is None  # at capacity: nothing, even urgent
    assert waiting_ids(inbox) == {"t-more": ("general", Priority.URGENT)}


def test_a_follow_up_while_an_agent_answers_keeps_the_case_open(store: Store) -> None:
    inbox = Inbox(store)
    file_case(store, "general", Priority.NORMAL, "t1", T0)
    take(store, "general", "mei", T0)
    seen = inbox.case("t1").seq  # type: ignore[union-attr]
    file_case(store, "general", Priority.NORMAL, "t1", T0 + timedelta(minutes=1), message_id="m2")  # meanwhile
    assert inbox.answered("t1", "mei", T0 + timedelta(minutes=2), seen) == "newer"
    state = inbox.case("t1")
    assert state is not None and (state.status, state.place, state.agent) == (Status.OPEN, Place.TAKEN, "mei")
    assert inbox.answered("t1", "mei", T0 + timedelta(minutes=3), state.seq) == "pending"
    assert inbox.load("mei") == [] and inbox.open_items("general") == []


def test_pending_goes_back_in_the_queue_with_its_resolution_clock_paused(store: Store) -> None:
    inbox = Inbox(store)
    file_case(store, "general", Priority.NORMAL, "t1", T0)
    take(store, "general", "mei", T0)
    inbox.answered("t1", "mei", T0 + timedelta(hours=1), 1)
    assert waiting_ids(inbox) == {} and inbox.pending_since(T0 + timedelta(hours=2)) == ["t1"]
    back = file_case(
        store, "general", Priority.LOW, "t1", T0 + timedelta(hours=5), message_id="m2", now=T0 + timedelta(hours=5)
    )
    assert (back.outcome, back.priority) == (Filed.BACK, Priority.NORMAL)
    state = inbox.case("t1")
    assert state is not None and state.status is Status.OPEN and state.lead == "m2"
    assert state.clock == T0 + timedelta(hours=4)  # 4 hours pending do not count towards resolution
    assert waiting_ids(inbox) == {"t1": ("general", Priority.NORMAL)} and inbox.pending_since(T0 + WEEK_TD) == []


WEEK_TD = timedelta(days=7)


def test_resolved_reopens_within_the_window_and_is_closed_after(store: Store) -> None:
    inbox = Inbox(store)
    file_case(store, "general", Priority.NORMAL, "t1", T0)
    assert inbox.resolve("t1", "mei", T0) is not None
    assert inbox.resolve("t1", "li", T0) is None  # once
    reopened = file_case(store, "general", Priority.NORMAL, "t1", T0 + timedelta(days=1), message_id="m2")
    assert reopened.outcome is Filed.REOPENED and waiting_ids(inbox) == {"t1": ("general", Priority.NORMAL)}
    assert inbox.case("t1").reopened == 1  # type: ignore[union-attr]
    inbox.resolve("t1", "mei", T0 + timedelta(days=2))
    late = T0 + timedelta(days=10)
    closed = file_case(store, "general", Priority.NORMAL, "t1", late, message_id="m3", reopen_seconds=WEEK)
    assert closed.outcome is Filed.CLOSED and waiting_ids(inbox) == {}


def test_concurrent_resolves_each_case_once(store: Store) -> None:
    inbox = Inbox(store)
    ids = [f"t{i}" for i in range(100)]
    for i, case_id in enumerate(ids):
        file_case(store, "general", Priority.HIGH, case_id, T0 + timedelta(seconds=i))
    while take(store, "general"):
        pass
    wins: dict[str, list[str]] = {"ann": [], "bo": []}

    def agent(name: str) -> None:
        wins[name] += [c for c in ids if inbox.resolve(c, name, T0 + timedelta(days=1))]

    threads = [threading.Thread(target=agent, args=(name,)) for name in wins]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins["ann"] + wins["bo"]) == sorted(ids)
    assert not set(wins["ann"]) & set(wins["bo"])
    assert inbox.open_items("general") == [] and inbox.load("agent") == []


def test_claim_release_and_reassign(store: Store) -> None:
    inbox = Inbox(store)
    file_case(store, "general", Priority.NORMAL, "t1", T0)
    take(store, "general", "mei", T0)
    assert not inbox.release("t1", taken_before=T0 - timedelta(minutes=1))  # taken after the cut-off: stays
    assert inbox.release("t1", taken_before=T0 + timedelta(minutes=30))
    assert waiting_ids(inbox) == {"t1": ("general", Priority.NORMAL)} and inbox.load("mei") == []
    assert inbox.reassign("t1", "li", T0)
    assert inbox.load("li") == ["t1"] and waiting_ids(inbox) == {}
    assert inbox.reassign("t1", "ann", T0) and inbox.load("li") == [] and inbox.load("ann") == ["t1"]
    inbox.resolve("t1", "ann", T0)
    assert not inbox.reassign("t1", "li", T0)


def test_agents_take_answer_and_resolve_a_routed_case(store: Store, settings: Settings) -> None:
    ctx = context_for(settings, store)
    accepted = store.accept(email("life@example.com", "my top-up failed"), b"raw")
    drain(settings)
    message_id = accepted.message_id
    routed = store.get_message(message_id)
    assert routed is not None and routed.decision is not None and routed.conversation_id is not None
    queue, case_id = routed.decision.queue, routed.conversation_id
    inbox = Inbox(store)

    assert take_next(ctx, queue, "mei") is not None
    assert [c for c, _ in inbox.open_items(queue)] == [case_id]
    assert inbox.times(case_id).first_response_at is None  # taking is not responding

    first = answer(ctx, case_id, "We are checking the top-up.", "mei")
    assert first.case.status is Status.PENDING and not first.newer
    answer(ctx, case_id, "Refunded.", "li")
    assert inbox.times(case_id).first_response_by == "mei"  # the first answer, once
    assert inbox.open_items(queue) == []  # pending: out of the queue

    done = resolve(ctx, case_id, "li")
    assert (done.queue, done.was) == (queue, Place.PENDING)
    assert inbox.times(case_id).resolved_by == "li"
    stored = store.get_message(message_id)
    assert stored is not None
    firsts = [n for n in stored.notes if "first response by" in n]
    assert len(firsts) == 1 and "first response by mei after" in firsts[0] and "first-response target" in firsts[0]
    assert any("resolved by li after" in n and "resolution target" in n for n in stored.notes)

    with pytest.raises(ValueError, match="already resolved by li"):
        resolve(ctx, case_id, "mei")
    with pytest.raises(LookupError, match="no case t-nope"):
        resolve(ctx, "t-nope", "mei")


def test_agent_resolve_command(store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpline.cli import app

    monkeypatch.setenv("HELPLINE_REDIS__URL", str(settings.redis.url))
    monkeypatch.setenv("HELPLINE_DATABASE__URL", str(settings.database.url))
    accepted = store.accept(email("cli-resolve@example.com", "my top-up failed"), b"raw")
    drain(settings)
    case_id = store.get_message(accepted.message_id).conversation_id  # type: ignore[union-attr]
    shipped = ["--settings", str(ROOT / "settings.toml")]
    runner = CliRunner()
    first = runner.invoke(app, ["agent", "resolve", accepted.message_id, "--as", "li", *shipped])
    assert first.exit_code == 0, first.output
    assert f"{case_id}: resolved in " in first.output and "resolution target" in first.output
    again = runner.invoke(app, ["agent", "resolve", accepted.message_id, *shipped])
    assert again.exit_code == 1 and "already resolved by li" in again.output
