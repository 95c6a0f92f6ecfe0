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
from datetime import timedelta
from typing import Annotated

import typer

from core.records import utcnow
from core.redis_conn import connect
from core.store import Store
from desk.queue_report import QueueRow, as_dict, queue_report
from helpline.options import SettingsOption, settings_or_exit, store_errors_exit
from router.sla import format_duration


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
    loaded = settings_or_exit(settings)
    with store_errors_exit():
        rows = queue_report(loaded, Store(connect(loaded)), utcnow())
    if as_json:
        typer.echo(json.dumps([as_dict(r) for r in rows if _shown(r, show_all)], indent=2, ensure_ascii=False))
    else:
        typer.echo(render_table(rows, show_empty=show_all))
