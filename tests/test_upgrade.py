"""Upgrade: an inbox of per-message items (the layout before cases) becomes one item per case, idempotently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.envelope import Priority
from core.inbox import Inbox, Place, Status
from core.settings import Settings
from core.store import Store
from desk.context import desk_context
from desk.upgrade import upgrade_inbox
from tests.support.work import drain
from tests.test_pipeline import email


def old_layout(store: Store, settings: Settings) -> dict[str, str]:
    """Three routed messages as the old version left them: two of one conversation waiting, one taken by mei (and
    answered), one resolved. Returns message ids by role."""
    ids = {
        "first": store.accept(email("u1@example.com", "my top-up failed"), b"raw").message_id,
        "taken": store.accept(email("u3@example.com", "my top-up failed", sender="bo@example.com"), b"raw").message_id,
        "done": store.accept(email("u4@example.com", "my top-up failed", sender="cy@example.com"), b"raw").message_id,
    }
    drain(settings)
    ids["second"] = store.accept(email("u2@example.com", "any news?", in_reply_to="u1@example.com"), b"raw").message_id
    drain(settings)
    inbox, r = Inbox(store), store.redis
    for key in [*r.keys("hl:case:*"), *r.keys("hl:inbox:*"), *r.keys("hl:open:*"), *r.keys("hl:agent-cases:*")]:
        r.delete(key)
    queue = store.get_message(ids["first"]).decision.queue  # type: ignore[union-attr]
    t0 = datetime.now(UTC) - timedelta(hours=1)
    r.zadd(f"hl:inbox:{queue}:normal", {ids["first"]: t0.timestamp(), ids["second"]: t0.timestamp() + 60})
    r.zadd(f"hl:inbox:{queue}:high", {ids["second"]: t0.timestamp() + 60})  # a second priority, as promotion left it
    r.zadd(f"hl:open:{queue}", {ids["taken"]: t0.timestamp()})
    r.hset(f"hl:item:{ids['taken']}", mapping={"taken_at": t0.isoformat(), "taken_by": "mei", "taken_from": queue})
    r.hset(f"hl:item:{ids['taken']}", mapping={"first_response_at": t0.isoformat(), "first_response_by": "mei"})
    r.hset(f"hl:item:{ids['done']}", mapping={"resolved_at": t0.isoformat(), "resolved_by": "li"})
    r.sadd("hl:inbox-queues", queue)
    assert inbox.queues() == [queue]
    return ids


def test_per_message_items_become_cases_once(store: Store, settings: Settings) -> None:
    ids = old_layout(store, settings)
    ctx = desk_context(settings, store)
    done = upgrade_inbox(ctx)
    assert done["waiting messages filed into cases"] == 3 and done["open messages filed into cases"] == 1
    assert done["resolved cases"] == 1
    inbox = Inbox(store)
    case = store.get_message(ids["first"]).conversation_id or ""  # type: ignore[union-attr]
    queue = store.get_message(ids["first"]).decision.queue  # type: ignore[union-attr]
    waiting = [c for p in Priority for c, _ in inbox.waiting(queue, p)]
    assert waiting == [case]  # one item for the two messages of the conversation
    state = inbox.case(case)
    assert state is not None and state.priority is Priority.HIGH and state.seq == 2
    taken = inbox.case(store.get_message(ids["taken"]).conversation_id or "")  # type: ignore[union-attr]
    assert taken is not None and (taken.place, taken.agent) == (Place.TAKEN, "mei")
    assert taken.times.first_response_by == "mei" and inbox.load("mei") == [taken.id]
    resolved = inbox.case(store.get_message(ids["done"]).conversation_id or "")  # type: ignore[union-attr]
    assert resolved is not None and resolved.status is Status.RESOLVED and resolved.times.resolved_by == "li"
    assert not [k for k in map(str, store.redis.zrange(f"hl:inbox:{queue}:normal", 0, -1)) if "m-" in k]

    assert not upgrade_inbox(ctx)  # again: nothing left to do, nothing changed
    assert [c for p in Priority for c, _ in inbox.waiting(queue, p)] == [case] and inbox.load("mei") == [taken.id]
