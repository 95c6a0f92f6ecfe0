"""The web app's own endpoints over real HTTP: health, and Prometheus metrics read from Redis, which are closed to
the world by default: a bearer token on the main listener, or a listener of their own."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from core.redis_conn import connect_url
from core.settings import Settings
from core.store import Store
from tests.support.ports import free_port
from tests.support.web_server import WebServer
from tests.support.work import drain
from tests.test_pipeline import email
from web.app import create_app, create_metrics_app

TOKEN = "scrape-me-7f3a"


def with_web(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"web": settings.web.model_copy(update=changes)})


def test_health_and_metrics(store: Store, settings: Settings) -> None:
    store.accept(email("w1@example.com", "Fraud: someone stole my phone"), b"raw")
    drain(settings)
    server = WebServer(create_app(with_web(settings, metrics_token=SecretStr(TOKEN)), store)).start()
    try:
        health = httpx.get(f"{server.url}/healthz").json()
        metrics = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    finally:
        server.stop()
    assert 'helpline_inbox_depth{priority="urgent",queue="security"} 1.0' in metrics
    assert "helpline_messages_stored 1.0" in metrics
    assert 'helpline_jobs_queued{queue="inbound"} 0.0' in metrics
    assert health == {"status": "ok", "record_lag": {"messages": 0, "oldest_seconds": 0.0, "updates_waiting": 0}}
    assert "helpline_record_lag_messages 0.0" in metrics


def test_metrics_are_closed_by_default_and_want_the_token(store: Store, settings: Settings) -> None:
    closed = WebServer(create_app(settings, store)).start()
    guarded = WebServer(create_app(with_web(settings, metrics_token=SecretStr(TOKEN)), store)).start()
    private = WebServer(create_metrics_app(settings, store)).start()  # what [web] metrics_bind serves
    opened = WebServer(create_app(with_web(settings, metrics_open=True), store)).start()
    try:
        refused = httpx.get(f"{closed.url}/metrics")
        assert refused.status_code == 403 and "metrics_token" in refused.json()["detail"]
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            answer = httpx.get(f"{guarded.url}/metrics", headers=headers)
            assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer", headers
        ok = httpx.get(f"{guarded.url}/metrics", headers={"Authorization": f"bearer {TOKEN}"})
        assert ok.status_code == 200 and "helpline_messages_stored" in ok.text
        assert "helpline_messages_stored" in httpx.get(f"{private.url}/metrics").text
        assert httpx.get(f"{private.url}/healthz").status_code == 404  # the private listener serves metrics only
        assert httpx.get(f"{opened.url}/metrics").status_code == 200
    finally:
        for server in (closed, guarded, private, opened):
            server.stop()


def test_health_is_503_when_redis_is_down(settings: Settings) -> None:
    dead = Store(connect_url(f"redis://127.0.0.1:{free_port()}", connect_timeout=0.2))
    server = WebServer(create_app(with_web(settings, metrics_open=True), dead)).start()
    try:
        assert httpx.get(f"{server.url}/healthz").status_code == 503
        assert httpx.get(f"{server.url}/metrics").status_code == 503
    finally:
        server.stop()
