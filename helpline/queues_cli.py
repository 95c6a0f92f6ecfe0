"""`helpline queues`: per queue and priority, how much is waiting or open, for how long, and how much is at risk.

Depth and oldest age are the waiting items of the agents' inbox (core/inbox.py); "open" are the items agents took
from the queue and have not resolved, counted under the priority the router gave them (the one their SLA is
measured at). SLA states come from router/sla.py, counted in the routed queue's business hours: "at risk" has used
up `[sla].at_risk_ratio` of its target, "breached" all of it.

    AT RISK, BREACHED          first response: items not answered yet, waiting or open (taking is not answering)
    RES RISK, RES BREACHED     resolution: every item not resolved yet, waiting or open

The scheduler moves waiting first-response breaches to the escalation queue, so such breaches outside it mean the
scheduler is not running or has not had its turn; open items and resolution breaches stay where they are, flagged.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from core.envelope import Priority
from core.inbox import Inbox
from core.records import StoredMessage, utcnow
from core.redis_conn import connect
from core.settings import Settings
from core.store import Store

if TYPE_CHECKING:
    from sqlalchemy import Engine
from helpline.options import SettingsOption, settings_or_exit, store_errors_exit
from router.hours import BusinessCalendar
from router.sla import SlaKind, SlaPolicy, SlaState, format_duration


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


def queue_report(settings: Settings, store: Store, now: datetime, record: Engine | None = None) -> list[QueueRow]:
    """`record`: where items whose hot copy expired are read (record/messages.py)."""
    from record.messages import load_messages  # here, not at the top: other commands start without SQLAlchemy

    calendar = BusinessCalendar.from_settings(settings)
    policy = SlaPolicy(settings.sla, calendar)
    inbox = Inbox(store)
    rows = []
    for queue in inbox.queues():
        counts: dict[Priority, Counter[str]] = {p: Counter() for p in Priority}
        stats = inbox.stats(queue)
        waiting = {
            row.priority: [m for m, _ in inbox.waiting(queue, row.priority)] if row.depth else [] for row in stats
        }
        opened = [message_id for message_id, _ in inbox.open_items(queue)]
        messages = load_messages(store, record, [*(m for ids in waiting.values() for m in ids), *opened])
        for row in stats:
            for message_id in waiting[row.priority]:
                if message := messages.get(message_id):
                    _tally(counts[row.priority], message, inbox, policy, now)
        for message_id in opened:
            message = messages.get(message_id)
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


def format_age(age: timedelta | None) -> str:
    return "-" if age is None else format_duration(age, days=True)


def _shown(row: QueueRow, show_empty: bool) -> bool:
    return show_empty or bool(row.depth or row.open)


def render_table(rows: list[QueueRow], show_empty: bool = False) -> str:
    shown = [r for r in rows if _shown(r, show_empty)]
    if not shown:
        return "no items waiting or open"
    width = max(len("QUEUE"), *(len(r.queue) for r in shown))
    lines = [
        f"{'QUEUE':<{width}}  {'PRIORITY':<8}  {'DEPTH':>5}  {'OLDEST':>7}  {'AT RISK':>7}  {'BREACHED':>8}  "
        f"{'OPEN':>4}  {'RES RISK':>8}  {'RES BREACHED':>12}  HOURS"
    ]
    for r in shown:
        lines.append(
            f"{r.queue:<{width}}  {r.priority.value:<8}  {r.depth:>5}  {format_age(r.oldest_age):>7}  "
            f"{r.at_risk:>7}  {r.breached:>8}  {r.open:>4}  {r.resolution_at_risk:>8}  {r.resolution_breached:>12}  "
            f"{'open' if r.open_now else 'closed'}"
        )
    return "\n".join(lines)


def queues_command(
    settings: SettingsOption = None,
    show_all: Annotated[bool, typer.Option("--all", help="also show priorities with nothing waiting or open")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Per queue and priority: depth, oldest item's age, open items, items at risk of breaching or past their SLA."""
    from record.engine import connect as connect_record

    loaded = settings_or_exit(settings)
    record = connect_record(loaded)
    try:
        with store_errors_exit():
            rows = queue_report(loaded, Store(connect(loaded)), utcnow(), record)
    finally:
        record.dispose()
    if as_json:
        typer.echo(json.dumps([as_dict(r) for r in rows if _shown(r, show_all)], indent=2, ensure_ascii=False))
    else:
        typer.echo(render_table(rows, show_empty=show_all))
