"""Replies that failed for good, counted per channel in Redis (`hl:sendfailures`, a hash channel -> count): the
web app reads it at scrape time as the Prometheus counter `helpline_send_failures_total` (web/metrics.py), so the
count is right however many workers failed sends, and survives their restarts."""

from __future__ import annotations

from core.store import Store, store_errors, text


def count_send_failure(store: Store, channel: str) -> None:
    with store_errors():
        store.redis.hincrby(store.key("sendfailures"), channel, 1)


def send_failure_counts(store: Store) -> dict[str, int]:
    with store_errors():
        return {text(k): int(v) for k, v in store.redis.hgetall(store.key("sendfailures")).items()}
