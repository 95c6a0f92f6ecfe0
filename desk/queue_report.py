"""Per queue and priority: how much is waiting or open, for how long, and how much is at risk of missing its SLA —
what `helpline queues` prints and `GET /api/queues` returns.

Depth and oldest age are the waiting items of the agents' inbox (core/inbox.py); "open" are the items agents took
from the queue and have not resolved, counted under the priority the router gave them (the one their SLA is
measured at). SLA states come from router/sla.py, counted in the routed queue's business hours: "at risk" has used
up `[sla].at_risk_ratio` of its target, "breached" all of it (first response: items not answered yet; resolution:
every item not resolved yet).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from core.envelope import Priority
from core.inbox import CaseState, Inbox
from core.settings import Settings
from core.store import Store
from router.hours import BusinessCalendar
from router.sla import SlaKind, SlaPolicy, SlaState


@dataclass(frozen=True)
class QueueRow:
    queue: str
    priority: Priority
    depth: int
    oldest_age: timedelta | None
    at_risk: int
    breached: int
    open_now: bool
    open: int = 0
    resolution_at_risk: int = 0
    resolution_breached: int = 0


_COUNTED = {SlaState.AT_RISK: "at_risk", SlaState.BREACHED: "breached"}


def _tally(counts: Counter[str], case: CaseState, policy: SlaPolicy, now: datetime) -> None:
    """Count a case's SLA risk: first response from the customer's current wait, resolution from its clock."""
    if case.times.first_response_at is None:
        state = policy.status(case.category, case.priority, case.queue, case.since, now, SlaKind.FIRST_RESPONSE).state
        if state in _COUNTED:
            counts[_COUNTED[state]] += 1
    state = policy.status(case.category, case.priority, case.queue, case.clock, now, SlaKind.RESOLUTION).state
    if state in _COUNTED:
        counts["resolution_" + _COUNTED[state]] += 1


def queue_report(settings: Settings, store: Store, now: datetime) -> list[QueueRow]:
    calendar = BusinessCalendar.from_settings(settings)
    policy = SlaPolicy(settings.sla, calendar)
    inbox = Inbox(store)
    rows = []
    for queue in inbox.queues():
        counts: dict[Priority, Counter[str]] = {p: Counter() for p in Priority}
        stats = inbox.stats(queue)
        for row in stats:
            for case_id, _ in inbox.waiting(queue, row.priority) if row.depth else []:
                if case := inbox.case(case_id):
                    _tally(counts[row.priority], case, policy, now)
        for case_id, _ in inbox.open_items(queue):
            case = inbox.case(case_id)
            if case is None:
                continue
            counts[case.priority]["open"] += 1
            _tally(counts[case.priority], case, policy, now)
        open_now = calendar.in_business_hours(queue, now)
        for row in stats:
            c = counts[row.priority]
            age = now - row.oldest_at if row.oldest_at else None
            rows.append(QueueRow(
                queue, row.priority, row.depth, age, c["at_risk"], c["breached"], open_now,
                c["open"], c["resolution_at_risk"], c["resolution_breached"],
            ))  # fmt: skip
    return rows


def as_dict(row: QueueRow) -> dict[str, object]:
    data = asdict(row)
    age = data.pop("oldest_age")
    return {**data, "priority": row.priority.value, "oldest_age_seconds": int(age.total_seconds()) if age else None}
