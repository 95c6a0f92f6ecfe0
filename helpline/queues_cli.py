"""`helpline queues`: per queue and priority, how much is waiting, for how long, and how much is at risk.

Depth and oldest age come from the agents' inbox (core/inbox.py). "At risk" and "breached" are the waiting items
whose first-response SLA (router/sla.py, counted in the routed queue's business hours) has used up
`[sla].at_risk_ratio` of its target, or all of it; the scheduler moves breached items to the escalation queue, so
breached items outside it mean the scheduler is not running or has not yet had its turn.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from core.envelope import Priority
from core.errors import StoreUnavailable
from core.inbox import Inbox
from core.records import utcnow
from core.settings import Settings
from core.store import Store
from router.hours import BusinessCalendar
from router.sla import SlaPolicy, SlaState


@dataclass(frozen=True)
class QueueRow:
    queue: str
    priority: Priority
    depth: int
    oldest_age: timedelta | None
    at_risk: int
    breached: int
    open_now: bool


def queue_report(settings: Settings, store: Store, now: datetime) -> list[QueueRow]:
    calendar = BusinessCalendar.from_settings(settings)
    policy = SlaPolicy(settings.sla, calendar)
    inbox = Inbox(store)
    rows = []
    for queue in inbox.queues():
        for stats in inbox.stats(queue):
            counts = {SlaState.AT_RISK: 0, SlaState.BREACHED: 0}
            if stats.depth:
                for message_id, _ in inbox.waiting(queue, stats.priority):
                    message = store.get_message(message_id)
                    if message is None or message.decision is None:
                        continue
                    d = message.decision
                    state = policy.status(d.category, d.priority, d.queue, message.envelope.received_at, now).state
                    if state in counts:
                        counts[state] += 1
            age = now - stats.oldest_at if stats.oldest_at else None
            rows.append(
                QueueRow(
                    queue,
                    stats.priority,
                    stats.depth,
                    age,
                    counts[SlaState.AT_RISK],
                    counts[SlaState.BREACHED],
                    calendar.in_business_hours(queue, now),
                )
            )
    return rows


def as_dict(row: QueueRow) -> dict[str, object]:
    data = asdict(row)
    age = data.pop("oldest_age")
    return {**data, "priority": row.priority.value, "oldest_age_seconds": int(age.total_seconds()) if age else None}


def format_age(age: timedelta | None) -> str:
    if age is None:
        return "-"
    minutes = max(0, int(age.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 24 * 60:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes // 1440}d{minutes % 1440 // 60:02d}h"


def render_table(rows: list[QueueRow], show_empty: bool = False) -> str:
    shown = [r for r in rows if show_empty or r.depth]
    if not shown:
        return "no items waiting"
    width = max(len("QUEUE"), *(len(r.queue) for r in shown))
    lines = [
        f"{'QUEUE':<{width}}  {'PRIORITY':<8}  {'DEPTH':>5}  {'OLDEST':>7}  {'AT RISK':>7}  {'BREACHED':>8}  HOURS"
    ]
    for r in shown:
        lines.append(
            f"{r.queue:<{width}}  {r.priority.value:<8}  {r.depth:>5}  {format_age(r.oldest_age):>7}  "
            f"{r.at_risk:>7}  {r.breached:>8}  {'open' if r.open_now else 'closed'}"
        )
    return "\n".join(lines)


def queues_command(
    settings: Annotated[
        Path | None,
        typer.Option("--settings", "-s", help="settings file (default: $HELPLINE_SETTINGS or ./settings.toml)"),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="also show priorities with nothing waiting")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Per queue and priority: depth, oldest item's age, items at risk of breaching or past their SLA."""
    from core.redis_conn import connect
    from helpline.cli import settings_or_exit  # here, not at the top: helpline.cli imports this module

    loaded = settings_or_exit(settings)
    try:
        rows = queue_report(loaded, Store(connect(loaded)), utcnow())
    except StoreUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps([as_dict(r) for r in rows if show_all or r.depth], indent=2, ensure_ascii=False))
    else:
        typer.echo(render_table(rows, show_empty=show_all))
