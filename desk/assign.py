"""Automatic assignment (`[cases].auto_assign`, off by default): a case that starts waiting — a new case, a pending
one the customer answered, a reopened one, one whose claim expired (`[cases].claim_timeout_minutes`) — goes at once
to an agent of its queue instead of waiting for "next" (an expired claim's case to someone else than its holder
when anyone else has room).

Who: active agents, not away, whose queues (skills) include the case's queue, taken in turn (round robin: a counter
per queue, `hl:assign-turn:{queue}`, over the candidates sorted by id), skipping those who already hold their
capacity of taken, unanswered cases. Each try is one script (core/inbox.py `assign`) that checks the case is still
waiting and the agent under capacity, so an agent's "next" and an assignment never both get a case, and an agent is
never put over capacity. No candidate with room: the case waits for "next", as without the setting. The assignment
counts as a take (queue throughput) and is an audit-log entry on the case (`auto-assign`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.inbox import Inbox, Place
from core.store import store_errors
from core.throughput import record_take
from desk.agents import AgentStore
from desk.context import HasDesk
from record.cases import audit, write_case_state

ACTOR = "auto-assign"


def auto_assign(ctx: HasDesk, case_id: str, at: datetime | None = None, *, skip: str | None = None) -> str | None:
    """Give the waiting case to the next agent of its queue with room (module docstring), other than `skip` unless
    nobody else may take it; their id, or None (the setting is off, the case is not waiting, nobody has room)."""
    if not ctx.settings.cases.auto_assign:
        return None
    inbox = Inbox(ctx.store)
    state = inbox.case(case_id)
    if state is None or state.place is not Place.WAITING:
        return None
    candidates = sorted(
        (a for a in AgentStore(ctx.record).all() if a.active and not a.away and state.queue in a.queues),
        key=lambda a: a.id,
    )
    others = [a for a in candidates if a.id != skip]
    candidates = others or candidates
    if not candidates:
        return None
    with store_errors():
        turn = int(ctx.store.redis.incr(ctx.store.key("assign-turn", state.queue))) - 1
    now = at or datetime.now(UTC)
    for i in range(len(candidates)):
        agent = candidates[(turn + i) % len(candidates)]
        outcome = inbox.assign(case_id, agent.id, now, capacity=agent.capacity)
        if outcome == "capacity":
            continue
        if outcome != "assigned":
            return None  # taken by someone first
        record_take(ctx.store, state.queue, now, case_id)
        fresh = inbox.case(case_id) or state
        with ctx.record.begin() as connection:
            write_case_state(connection, fresh)
            audit(connection, ACTOR, "auto-assign", case_id, {"agent": agent.id, "queue": state.queue}, now)
        return agent.id
    return None
