"""Queues with their counts and SLA risk (desk/queue_report.py, the figures `helpline queues` prints): an agent
sees their own queues, supervisors and admins every queue."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException

from desk.queue_report import QueueRow, queue_report
from router.hours import BusinessCalendar
from web.api.deps import CallerDep, DeskDep
from web.api.schemas import PriorityCounts, QueueOut

router = APIRouter(prefix="/queues", tags=["queues"])


def _queues(desk: DeskDep) -> dict[str, list[QueueRow]]:
    by_queue: dict[str, list[QueueRow]] = defaultdict(list)
    for row in queue_report(desk.settings, desk.store, datetime.now(UTC)):
        by_queue[row.queue].append(row)
    return by_queue


def _out(desk: DeskDep, queue: str, rows: list[QueueRow]) -> QueueOut:
    priorities = [
        PriorityCounts(
            priority=r.priority.value, waiting=r.depth, open=r.open,
            oldest_age_seconds=int(r.oldest_age.total_seconds()) if r.oldest_age else None,
            first_response_at_risk=r.at_risk, first_response_breached=r.breached,
            resolution_at_risk=r.resolution_at_risk, resolution_breached=r.resolution_breached,
        )
        for r in rows
    ]  # fmt: skip
    return QueueOut(
        queue=queue, waiting=sum(p.waiting for p in priorities), open=sum(p.open for p in priorities),
        first_response_at_risk=sum(p.first_response_at_risk for p in priorities),
        first_response_breached=sum(p.first_response_breached for p in priorities),
        resolution_at_risk=sum(p.resolution_at_risk for p in priorities),
        resolution_breached=sum(p.resolution_breached for p in priorities),
        in_business_hours=BusinessCalendar.from_settings(desk.settings).in_business_hours(queue, datetime.now(UTC)),
        priorities=priorities,
    )  # fmt: skip


def _known(desk: DeskDep) -> set[str]:
    return desk.settings.router.known_queues() | {desk.settings.scheduler.escalation_queue}


@router.get("", responses={401: {}})
def list_queues(who: CallerDep, desk: DeskDep) -> list[QueueOut]:
    """Every queue the caller works (configured ones too, when nothing waits there yet), by name."""
    found = _queues(desk)
    names = sorted((_known(desk) | set(found)) if who.agent.role.rank else set(who.agent.queues))
    return [_out(desk, name, found.get(name, [])) for name in names if who.agent.works(name)]


@router.get("/{queue}", responses={401: {}, 403: {}, 404: {}})
def read_queue(queue: str, who: CallerDep, desk: DeskDep) -> QueueOut:
    found = _queues(desk)
    if queue not in _known(desk) and queue not in found:
        raise HTTPException(404, f"no queue {queue}")
    if not who.agent.works(queue):
        raise HTTPException(403, f"{queue} is not one of your queues")
    return _out(desk, queue, found.get(queue, []))
