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
from core.inbox import Inbox
from core.records import StoredMessage
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


def _tally(counts: Counter[str], message: StoredMessage, inbox: Inbox, policy: SlaPolicy, now: datetime) -> None:
    d, received = message.decision, message.envelope.received_at
    if d is None:
        return
    times = inbox.times(message.id)
    if times.first_response_at is None:
        state = policy.status(d.category, d.priority, d.queue, received, now, SlaKind.FIRST_RESPONSE).state
        if state in _COUNTED:
            counts[_COUNTED[state]] += 1
    state = policy.status(d.category, d.priority, d.queue, received, now, SlaKind.RESOLUTION).state
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
            for message_id, _ in inbox.waiting(queue, row.priority) if row.depth else []:
                if message := store.get_message(message_id):
                    _tally(counts[row.priority], message, inbox, policy, now)
        for message_id, _ in inbox.open_items(queue):
            message = store.get_message(message_id)
            if message is None or message.decision is None:
                continue  # no priority to count it under; cannot happen for an item the pipeline filed
            counts[message.decision.priority]["open"] += 1
            _tally(counts[message.decision.priority], message, inbox, policy, now)
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
