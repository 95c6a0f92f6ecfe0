"""`/metrics`: Prometheus figures read from Redis and from the record at scrape time.

Workers, pollers and web processes are many and short-lived; counting in each process's memory would need
prometheus-client's multiprocess mode and still lose counts on restart. The numbers that matter to an operator
(queue depths and ages, dead letters, stored messages) are already in Redis, and the desk's per queue and per agent
figures (cases by state, first response and resolution times, SLA breaches, CSAT, send failures) in the record, so
the web app reads them when scraped: one source of truth, correct however many processes run. A record that does not
answer leaves its figures out and sets `helpline_record_up` to 0; the Redis figures are still served.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector
from rq import Queue
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from core.inbox import Inbox
from core.queues import QUEUE_ORDER
from core.record_queue import record_lag
from core.send_failures import send_failure_counts
from core.store import Store
from record.desk_metrics import DeskFigures, Timing, desk_figures

log = logging.getLogger("helpline.web.metrics")


class StoreCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("helpline_inbox_depth", "Cases waiting for an agent", labels=["queue", "priority"])
        age = GaugeMetricFamily(
            "helpline_inbox_oldest_age_seconds",
            "How long the longest-waiting customer has waited",
            labels=["queue", "priority"],
        )
        now = datetime.now(UTC)
        taken = GaugeMetricFamily("helpline_inbox_open", "Items taken by an agent and not resolved", labels=["queue"])
        inbox = Inbox(self.store)
        for queue in inbox.queues():
            for stats in inbox.stats(queue):
                depth.add_metric([queue, stats.priority.value], stats.depth)
                oldest = (now - stats.oldest_at).total_seconds() if stats.oldest_at else 0.0
                age.add_metric([queue, stats.priority.value], oldest)
            taken.add_metric([queue], len(inbox.open_items(queue)))
        jobs = GaugeMetricFamily("helpline_jobs_queued", "RQ jobs waiting, per worker queue", labels=["queue"])
        for name in QUEUE_ORDER:
            jobs.add_metric([name], Queue(name, connection=self.store.redis).count)
        dead = GaugeMetricFamily("helpline_dead_letters", "Payloads that could not be parsed, awaiting replay")
        dead.add_metric([], self.store.redis.zcard(self.store.key("deadletters")))
        stored = GaugeMetricFamily("helpline_messages_stored", "Messages in the store")
        stored.add_metric([], self.store.redis.zcard(self.store.key("messages")))
        lag = record_lag(self.store)
        unrecorded = GaugeMetricFamily(
            "helpline_record_lag_messages", "Messages accepted but not yet recorded (pipeline job waiting or paused)"
        )
        unrecorded.add_metric([], lag.messages)
        oldest_unrecorded = GaugeMetricFamily(
            "helpline_record_lag_oldest_seconds", "Age of the oldest message accepted but not yet recorded"
        )
        oldest_unrecorded.add_metric([], lag.oldest_seconds)
        updates = GaugeMetricFamily(
            "helpline_record_updates_waiting",
            "Record-update jobs waiting (queued or paused for the record) and replies waiting for the record",
        )
        updates.add_metric([], lag.updates_waiting)
        failures = CounterMetricFamily(
            "helpline_send_failures",
            "Replies that failed for good (after their last retry, or refused)",
            labels=["channel"],
        )
        for channel, count in sorted(send_failure_counts(self.store).items()):
            failures.add_metric([channel], count)
        yield from (depth, age, taken, jobs, dead, stored, unrecorded, oldest_unrecorded, updates, failures)


class RecordCollector(Collector):
    """Per queue and per agent, from the record (record/desk_metrics.py says what each figure counts)."""

    def __init__(self, record: Engine) -> None:
        self.record = record

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("helpline_record_up", "1 when the record answered this scrape")
        try:
            with self.record.begin() as connection:
                figures = desk_figures(connection)
        except SQLAlchemyError as exc:
            log.warning("metrics: the record did not answer: %s", exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _desk_metrics(figures)


def _summary(name: str, doc: str, timings: dict[tuple[str, str], Timing]) -> SummaryMetricFamily:
    family = SummaryMetricFamily(name, doc, labels=["queue", "agent"])
    for labels, timing in sorted(timings.items()):
        family.add_metric(list(labels), count_value=timing.count, sum_value=timing.seconds)
    return family


def _desk_metrics(figures: DeskFigures) -> Iterator[Metric]:
    cases = GaugeMetricFamily("helpline_cases", "Cases in the record by state", labels=["queue", "agent", "state"])
    for labels, n in sorted(figures.cases.items()):
        cases.add_metric(list(labels), n)
    yield cases
    yield _summary("helpline_first_response_seconds", "From a case's creation to its first response",
                   figures.first_response)  # fmt: skip
    yield _summary("helpline_resolution_seconds", "From a case's creation to its resolution", figures.resolution)
    yield _summary("helpline_csat_score", "Satisfaction ratings (1-5): sum and count", figures.csat)
    breaches = CounterMetricFamily("helpline_sla_breaches", "SLA targets missed", labels=["queue", "agent", "target"])
    for labels, n in sorted(figures.sla_breaches.items()):
        breaches.add_metric(list(labels), n)
    yield breaches
    failures = CounterMetricFamily(
        "helpline_case_send_failures",
        "Cases' replies that failed for good (the record)",
        labels=["queue", "agent", "channel"],
    )
    for labels, n in sorted(figures.send_failures.items()):
        failures.add_metric(list(labels), n)
    yield failures
    info = GaugeMetricFamily("helpline_agent_info", "Each agent (1): name and role", labels=["agent", "name", "role"])
    away = GaugeMetricFamily("helpline_agent_away", "1 while the agent is away", labels=["agent"])
    capacity = GaugeMetricFamily("helpline_agent_capacity", "Open cases the agent takes at once", labels=["agent"])
    for agent in figures.agents:
        if agent.active:
            info.add_metric([agent.id, agent.name, agent.role], 1)
            away.add_metric([agent.id], int(agent.away))
            capacity.add_metric([agent.id], agent.capacity)
    yield from (info, away, capacity)


def exposition(store: Store, record: Engine | None = None) -> bytes:
    registry = CollectorRegistry()
    registry.register(StoreCollector(store))
    if record is not None:
        registry.register(RecordCollector(record))
    return generate_latest(registry)
