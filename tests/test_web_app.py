"""The web app's own endpoints over real HTTP: health and Prometheus metrics read from Redis."""

from __future__ import annotations

import httpx

from core.redis_conn import connect_url
from core.settings import Settings
from core.store import Store
from tests.support.ports import free_port
from tests.support.web_server import WebServer
from tests.support.work import drain
from tests.test_pipeline import email
from web.app import create_app


def test_health_and_metrics(store: Store, settings: Settings) -> None:
    store.accept(email("w1@example.com", "Fraud: someone stole my phone"), b"raw")
    drain(settings)
    server = WebServer(create_app(settings, store)).start()
    try:
        health = httpx.get(f"{server.url}/healthz").json()
        metrics = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()
    assert 'helpline_inbox_depth{priority="urgent",queue="security"} 1.0' in metrics
    assert "helpline_messages_stored 1.0" in metrics
    assert 'helpline_jobs_queued{queue="inbound"} 0.0' in metrics
    assert health == {"status": "ok", "record_lag": {"messages": 0, "oldest_seconds": 0.0, "updates_waiting": 0}}
    assert "helpline_record_lag_messages 0.0" in metrics


def test_health_is_503_when_redis_is_down(settings: Settings) -> None:
    dead = Store(connect_url(f"redis://127.0.0.1:{free_port()}", connect_timeout=0.2))
    server = WebServer(create_app(settings, dead)).start()
    try:
        assert httpx.get(f"{server.url}/healthz").status_code == 503
        assert httpx.get(f"{server.url}/metrics").status_code == 503
    finally:
        server.stop()
