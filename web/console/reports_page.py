"""`/console/reports` (supervisors and admins): the record's figures over a chosen range, per queue and optionally
for one agent, as tables and charts; `/console/reports.csv` downloads the same figures.

The range is chosen as dates in the desk's time zone, both ends included (`from=2026-03-02&to=2026-03-02` is that
one day); without them the last seven days up to today. The queries are record/reports.py's, run in a thread (the
record is synchronous SQLAlchemy) under `desk.report_timeout_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from core.settings import Settings
from record.reports import PERIODS, Figure, Period, ReportRange, report, to_csv
from web.console.guard import Console, Handler, Visit
from web.console.i18n import translator
from web.console.report_view import build

log = logging.getLogger("helpline.web.console")


@dataclass(frozen=True)
class Choice:
    """What the form asked for, as the form shows it again."""

    start: date
    end: date  # included
    period: Period
    queue: str
    agent: str

    def span(self, timezone: str) -> ReportRange:
        zone = ZoneInfo(timezone)
        return ReportRange(
            start=datetime.combine(self.start, datetime.min.time(), zone),
            end=datetime.combine(self.end + timedelta(days=1), datetime.min.time(), zone),
            timezone=timezone, period=self.period, queue=self.queue or None, agent=self.agent or None,
        )  # fmt: skip

    def query(self) -> str:
        from urllib.parse import urlencode

        return urlencode({"from": self.start.isoformat(), "to": self.end.isoformat(), "period": self.period,
                          "queue": self.queue, "agent": self.agent})  # fmt: skip


def choice(params: QueryParams, today: date) -> Choice | None:
    """None when the dates or the period are not valid (the page says so)."""
    try:
        start = date.fromisoformat(params.get("from") or (today - timedelta(days=6)).isoformat())
        end = date.fromisoformat(params.get("to") or today.isoformat())
    except ValueError:
        return None
    period = params.get("period") or "all"
    if end < start or period not in PERIODS:
        return None
    return Choice(start, end, period, params.get("queue") or "", params.get("agent") or "")


class Reports:
    def __init__(self, console: Console, settings: Settings, record: Callable[[], Engine]) -> None:
        self.console, self.settings, self._record = console, settings, record

    @property
    def record(self) -> Engine:
        return self._record()

    def _today(self) -> date:
        return datetime.now(ZoneInfo(self.settings.desk.timezone)).date()

    def _figures(self, chosen: Choice) -> list[Figure]:
        with self.record.begin() as connection:
            return report(
                connection, chosen.span(self.settings.desk.timezone),
                timeout_seconds=self.settings.desk.report_timeout_seconds,
            )  # fmt: skip

    def _agents(self) -> list[tuple[str, str]]:
        with self.record.begin() as connection:
            rows = connection.execute(text("SELECT id, name FROM agents ORDER BY name, id"))
            return [(str(row.id), str(row.name)) for row in rows]

    def page(self) -> Handler:
        async def handler(request: Request, visit: Visit) -> Response:
            chosen = choice(request.query_params, self._today())
            try:
                figures = await asyncio.to_thread(self._figures, chosen) if chosen else []
                agents = await asyncio.to_thread(self._agents)
            except SQLAlchemyError as exc:
                log.warning("reports: the record cannot be reached: %s", type(exc).__name__)
                return self.console.render(visit, "unavailable.html", status=503)
            view = build(figures, translator(visit.language), whole_range=chosen is None or chosen.period == "all")
            return self.console.render(
                visit, "reports.html", status=200 if chosen else 400, chosen=chosen, view=view, agents=agents,
                queues=sorted(self.settings.router.known_queues()), periods=PERIODS,
                params=request.query_params,
            )  # fmt: skip

        return handler

    def csv(self) -> Handler:
        async def handler(request: Request, visit: Visit) -> Response:
            chosen = choice(request.query_params, self._today())
            if chosen is None:
                return self.console.finish(visit, Response("invalid range\n", status_code=400))
            try:
                figures = await asyncio.to_thread(self._figures, chosen)
            except SQLAlchemyError as exc:
                log.warning("reports: the record cannot be reached: %s", type(exc).__name__)
                return self.console.finish(visit, Response("the record cannot be reached\n", status_code=503))
            name = f"helpline-report-{chosen.start.isoformat()}-{chosen.end.isoformat()}.csv"
            response = Response(
                to_csv(figures), media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )  # fmt: skip
            return self.console.finish(visit, response)

        return handler
