"""Reports over the record, as SQL: volumes by channel and category, first response and resolution times (median
and 90th percentile, wall-clock), SLA attainment, CSAT; per period and queue, optionally for one agent.

What each figure counts (a choice the issue left open, written down here and in the README):
- **volume**: inbound messages received in the period, dropped ones (loops, service messages) left out; by channel
  and by the category the router gave the message; its queue is the one it was routed to.
- **first response**: cases *opened* in the period that had one: from the case's creation to its first response
  (`conversations.first_response_at`, else the first agent answer, purpose `answer`, sent or delivered). Wall-clock
  seconds; business hours are the SLA's business, not the report's.
- **resolution**: cases *resolved* in the period: from creation to `resolved_at`.
- **SLA attainment**: from `sla_events` stored when they happened (`first_response_met`, `first_response_breached`,
  `resolution_met`, `resolution_breached`), never recomputed with today's hours: met / (met + breached).
- **CSAT**: survey scores given in the period: the share of 4 and 5 ratings (and how many ratings).
- **corrections** (routing quality): agents' category corrections made in the period, counted per pair of the
  category the router gave and the one the agent chose (`by` = `from=fees,to=refund`), so the categories agents
  corrected most stand out. A correction is an audit-log row (`record/corrections.py` writes it): action
  `recategorize`, the message as subject, `detail` {from, to, queue}; its agent is the row's actor (`--agent`
  counts the corrections that agent made).

Periods are days, ISO weeks or months in the desk's time zone (`desk.timezone`), or the whole range. Every time is a
parameter from Python (no `now()`), and the report runs under its own statement timeout.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, text

Period = Literal["day", "week", "month", "all"]
PERIODS: tuple[Period, ...] = ("day", "week", "month", "all")


@dataclass(frozen=True)
class ReportRange:
    start: datetime  # inclusive, timezone-aware
    end: datetime  # exclusive
    timezone: str = "UTC"
    period: Period = "all"
    queue: str | None = None
    agent: str | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("report times must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"the report's end ({self.end}) is not after its start ({self.start})")
        if self.period not in PERIODS:
            raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {self.period!r}")


@dataclass(frozen=True)
class Figure:
    """One figure of a report: `measure` (e.g. `volume`, `first_response_p90_seconds`) of `queue` in `period`,
    broken down by `by` (e.g. `channel=email`; empty when not broken down)."""

    period: str
    queue: str
    measure: str
    by: str
    value: float


def _period(column: str, span: ReportRange) -> str:
    """The SQL giving a row's period label, cut in the desk's time zone (`:tz`)."""
    if span.period == "all":
        return ":all_label"
    fmt = {"day": "YYYY-MM-DD", "week": 'IYYY-"W"IW', "month": "YYYY-MM"}[span.period]
    return f"to_char(date_trunc('{span.period}', {column} AT TIME ZONE :tz), '{fmt}')"


_VOLUME = """
SELECT {period} AS period, coalesce(m.decision->>'queue', c.queue, '-') AS queue,
       {by} AS by, count(*) AS value
FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id
WHERE m.state <> 'dropped' AND m.received_at >= :start AND m.received_at < :end {filters}
GROUP BY 1, 2, 3
"""

_FIRST_RESPONSE = """
WITH cases AS (
  SELECT {period} AS period, coalesce(c.queue, '-') AS queue,
         extract(epoch FROM coalesce(c.first_response_at, (
            SELECT min(r.created_at) FROM replies r
            WHERE r.conversation_id = c.id AND r.purpose = 'answer' AND r.state IN ('sent', 'delivered')
         )) - c.created_at) AS seconds
  FROM conversations c
  WHERE c.created_at >= :start AND c.created_at < :end {filters}
)
SELECT period, queue, percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds) AS p90, count(*) AS n
FROM cases WHERE seconds IS NOT NULL GROUP BY 1, 2
"""

_RESOLUTION = """
SELECT {period} AS period, coalesce(c.queue, '-') AS queue,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.resolved_at - c.created_at)) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM c.resolved_at - c.created_at)) AS p90,
       count(*) AS n
FROM conversations c
WHERE c.resolved_at >= :start AND c.resolved_at < :end {filters}
GROUP BY 1, 2
"""

_SLA = """
SELECT {period} AS period, coalesce(e.queue, c.queue, '-') AS queue, split_part(e.kind, '_', 1) AS target,
       count(*) FILTER (WHERE e.kind LIKE '%\\_met') AS met, count(*) AS n
FROM sla_events e LEFT JOIN conversations c ON c.id = e.conversation_id
WHERE e.at >= :start AND e.at < :end
  AND e.kind IN ('first_response_met', 'first_response_breached', 'resolution_met', 'resolution_breached') {filters}
GROUP BY 1, 2, 3
"""

_CSAT = """
SELECT {period} AS period, coalesce(c.queue, '-') AS queue,
       count(*) FILTER (WHERE s.score >= 4)::float / count(*) AS share, count(*) AS n
FROM survey_scores s JOIN conversations c ON c.id = s.conversation_id
WHERE s.at >= :start AND s.at < :end {filters}
GROUP BY 1, 2
"""


_CORRECTIONS = """
SELECT {period} AS period, coalesce(a.detail->>'queue', c.queue, '-') AS queue,
       'from=' || coalesce(a.detail->>'from', '-') || ',to=' || coalesce(a.detail->>'to', '-') AS by, count(*) AS n
FROM audit_log a
LEFT JOIN messages m ON a.subject_kind = 'message' AND m.id = a.subject_id
LEFT JOIN conversations c ON c.id = m.conversation_id
WHERE a.action = 'recategorize' AND a.at >= :start AND a.at < :end {filters}
GROUP BY 1, 2, 3
"""


def report(connection: Connection, span: ReportRange, *, timeout_seconds: float = 60.0) -> list[Figure]:
    """Every figure for `span`, sorted by period, queue, measure and breakdown. Runs in the caller's transaction,
    with a statement timeout set for it alone."""
    connection.execute(
        text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(int(timeout_seconds * 1000))}
    )
    params = {
        "start": span.start, "end": span.end, "tz": span.timezone, "queue": span.queue, "agent": span.agent,
        "all_label": f"{span.start.isoformat()}/{span.end.isoformat()}",
    }  # fmt: skip
    figures: list[Figure] = []

    def rows(
        sql: str, column: str, queue_sql: str, agent_sql: str = "c.assigned_agent_id", **parts: str
    ) -> list[dict[str, Any]]:
        filters = ""
        if span.queue is not None:
            filters += f" AND {queue_sql} = :queue"
        if span.agent is not None:
            filters += f" AND {agent_sql} = :agent"
        statement = sql.format(period=_period(column, span), filters=filters, **parts)
        return [dict(row._mapping) for row in connection.execute(text(statement), params)]

    message_queue = "coalesce(m.decision->>'queue', c.queue, '-')"
    for by, expression in (("channel", "m.channel"), ("category", "coalesce(m.decision->>'category', '-')")):
        for row in rows(_VOLUME, "m.received_at", message_queue, by=expression):
            figures.append(
                Figure(str(row["period"]), str(row["queue"]), "volume", f"{by}={row['by']}", float(row["value"]))
            )
    for measure, sql, column in (
        ("first_response", _FIRST_RESPONSE, "c.created_at"),
        ("resolution", _RESOLUTION, "c.resolved_at"),
    ):
        for row in rows(sql, column, "coalesce(c.queue, '-')"):
            period, queue = str(row["period"]), str(row["queue"])
            figures.append(Figure(period, queue, f"{measure}_median_seconds", "", float(row["median"])))
            figures.append(Figure(period, queue, f"{measure}_p90_seconds", "", float(row["p90"])))
            figures.append(Figure(period, queue, f"{measure}_cases", "", float(row["n"])))
    for row in rows(_SLA, "e.at", "coalesce(e.queue, c.queue, '-')"):
        period, queue, target = str(row["period"]), str(row["queue"]), str(row["target"])
        target = "first_response" if target == "first" else target
        met, n = float(row["met"]), float(row["n"])
        figures.append(Figure(period, queue, f"sla_{target}_attainment", "", met / n))
        figures.append(Figure(period, queue, f"sla_{target}_events", "", n))
    for row in rows(_CSAT, "s.at", "coalesce(c.queue, '-')"):
        period, queue = str(row["period"]), str(row["queue"])
        figures.append(Figure(period, queue, "csat_share", "", float(row["share"])))
        figures.append(Figure(period, queue, "csat_ratings", "", float(row["n"])))
    for row in rows(_CORRECTIONS, "a.at", "coalesce(a.detail->>'queue', c.queue, '-')", "a.actor"):
        figures.append(Figure(str(row["period"]), str(row["queue"]), "corrections", str(row["by"]), float(row["n"])))
    return sorted(figures, key=lambda f: (f.period, f.queue, f.measure, f.by))


CSV_HEADER = ("period", "queue", "measure", "by", "value")


def number(value: float) -> str:
    """A figure as text: counts without `.0`, ratios and times to four decimals at most."""
    return str(int(value)) if value.is_integer() else f"{value:.4f}".rstrip("0")


def to_csv(figures: Iterable[Figure]) -> str:
    """`period,queue,measure,by,value` lines: what `helpline report --csv` prints and the console downloads."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows((f.period, f.queue, f.measure, f.by, number(f.value)) for f in figures)
    return out.getvalue()
