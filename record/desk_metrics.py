"""The desk's figures per queue and per agent, read from the record for `/metrics` (web/metrics.py) at scrape time.

Each figure is a total over the record, which Prometheus turns into rates and averages (`rate(x_sum) / rate(x_count)`):
- cases by state: `resolved` when the case has a `resolved_at`, else its `status` (open, pending…);
- first response and resolution times: from the case's creation to its `first_response_at` / `resolved_at`;
- SLA breaches: `sla_events` of kind `first_response_breached` / `resolution_breached`, stored when they happened;
- CSAT: survey scores (sum and count, so the average is one division);
- send failures: replies whose delivery state is `failed`, by channel.

`agent` is the case's assigned agent's id (a reply's own agent for send failures), `-` when there is none; `queue` is
the case's queue (the SLA event's own queue when it has one), `-` when there is none. Every query groups over whole
tables with a short statement timeout: a scrape never holds the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class Timing:
    count: int
    seconds: float


@dataclass(frozen=True)
class AgentRow:
    id: str
    name: str
    role: str
    away: bool
    active: bool
    capacity: int


@dataclass
class DeskFigures:
    cases: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (queue, agent, state)
    first_response: dict[tuple[str, str], Timing] = field(default_factory=dict)  # (queue, agent)
    resolution: dict[tuple[str, str], Timing] = field(default_factory=dict)
    sla_breaches: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (queue, agent, target)
    csat: dict[tuple[str, str], Timing] = field(default_factory=dict)  # count and sum of scores
    send_failures: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (queue, agent, channel)
    agents: list[AgentRow] = field(default_factory=list)


_CASES = """
SELECT coalesce(queue, '-') AS queue, coalesce(assigned_agent_id, '-') AS agent,
       CASE WHEN resolved_at IS NOT NULL THEN 'resolved' ELSE status END AS state, count(*) AS n,
       count(first_response_at) AS responded,
       coalesce(sum(extract(epoch FROM first_response_at - created_at)), 0) AS response_seconds,
       count(resolved_at) AS resolved,
       coalesce(sum(extract(epoch FROM resolved_at - created_at)), 0) AS resolution_seconds
FROM conversations GROUP BY 1, 2, 3
"""

_BREACHES = """
SELECT coalesce(e.queue, c.queue, '-') AS queue, coalesce(c.assigned_agent_id, '-') AS agent,
       CASE WHEN e.kind LIKE 'first\\_response%' THEN 'first_response' ELSE 'resolution' END AS target, count(*) AS n
FROM sla_events e LEFT JOIN conversations c ON c.id = e.conversation_id
WHERE e.kind IN ('first_response_breached', 'resolution_breached')
GROUP BY 1, 2, 3
"""

_CSAT = """
SELECT coalesce(c.queue, '-') AS queue, coalesce(c.assigned_agent_id, '-') AS agent, count(*) AS n,
       sum(s.score) AS total
FROM survey_scores s JOIN conversations c ON c.id = s.conversation_id
GROUP BY 1, 2
"""

_SEND_FAILURES = """
SELECT coalesce(c.queue, '-') AS queue, coalesce(r.agent_id, c.assigned_agent_id, '-') AS agent, r.channel,
       count(*) AS n
FROM replies r LEFT JOIN conversations c ON c.id = r.conversation_id
WHERE r.state = 'failed'
GROUP BY 1, 2, 3
"""

_AGENTS = "SELECT id, name, role, away, active, capacity FROM agents ORDER BY id"


def desk_figures(connection: Connection, *, timeout_seconds: float = 5.0) -> DeskFigures:
    """Every figure, in the caller's transaction (with its own statement timeout)."""
    connection.execute(
        text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(int(timeout_seconds * 1000))}
    )
    figures = DeskFigures()
    for row in connection.execute(text(_CASES)):
        queue, agent = str(row.queue), str(row.agent)
        figures.cases[(queue, agent, str(row.state))] = int(row.n)
        _add(figures.first_response, (queue, agent), int(row.responded), float(row.response_seconds))
        _add(figures.resolution, (queue, agent), int(row.resolved), float(row.resolution_seconds))
    for row in connection.execute(text(_BREACHES)):
        figures.sla_breaches[(str(row.queue), str(row.agent), str(row.target))] = int(row.n)
    for row in connection.execute(text(_CSAT)):
        figures.csat[(str(row.queue), str(row.agent))] = Timing(int(row.n), float(row.total))
    for row in connection.execute(text(_SEND_FAILURES)):
        figures.send_failures[(str(row.queue), str(row.agent), str(row.channel))] = int(row.n)
    figures.agents = [
        AgentRow(str(r.id), str(r.name), str(r.role), bool(r.away), bool(r.active), int(r.capacity))
        for r in connection.execute(text(_AGENTS))
    ]
    return figures


def _add(into: dict[tuple[str, str], Timing], key: tuple[str, str], count: int, seconds: float) -> None:
    if count:
        before = into.get(key, Timing(0, 0.0))
        into[key] = Timing(before.count + count, before.seconds + seconds)
