"""`/metrics`: Prometheus gauges read from Redis at scrape time.

Workers, pollers and web processes are many and short-lived; counting in each process's memory would need
prometheus-client's multiprocess mode and still lose counts on restart. The numbers that matter to an operator
(queue depths and ages, dead letters, stored messages) are already in Redis, so the web app reads them when
scraped: one source of truth, correct however many processes run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from rq import Queue

from core.inbox import Inbox
from core.queues import QUEUE_ORDER
from core.record_queue import record_lag
from core.store import Store


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
        inbox = Inbox(self.store)
        for queue in inbox.queues():
            for stats in inbox.stats(queue):
                depth.add_metric([queue, stats.priority.value], stats.depth)
                oldest = (now - stats.oldest_at).total_seconds() if stats.oldest_at else 0.0
                age.add_metric([queue, stats.priority.value], oldest)
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
            "helpline_record_updates_waiting", "Record-update jobs waiting (queued or paused for the record)"
        )
        updates.add_metric([], lag.updates_waiting)
        yield from (depth, age, jobs, dead, stored, unrecorded, oldest_unrecorded, updates)


def exposition(store: Store) -> bytes:
    registry = CollectorRegistry()
    registry.register(StoreCollector(store))
    return generate_latest(registry)
