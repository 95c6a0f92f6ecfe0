"""The console over plain HTTP (no browser): every POST route refuses a request without the CSRF token, roles,
the session secret, the UI languages, the static files."""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis
from starlette.routing import Mount, Route

from core.agent_settings import Role
from core.settings import Settings
from core.store import Store
from desk.agents import AgentStore
from record.engine import engine_for
from tests.console.conftest import PASSWORD, Site
from tests.support.console_identities import RedisIdentities
from tests.support.web_server import WebServer
from web.app import create_app
from web.console.guard import safe_next
from web.console.i18n import STRINGS, choose, from_accept_language, translator
from web.console.report_view import duration, share
from web.console.session import console_secret


@contextlib.contextmanager
def signed_in(site: Site, email: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, follow_redirects=False) as client:
        page = client.get("/console/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        answer = client.post(
            "/console/sign-in", data={"csrf_token": token.group(1), "email": email, "password": PASSWORD, "next": ""}
        )
        assert answer.status_code == 303, answer.text
        yield client


def console_post_paths(settings: Settings, store: Store) -> list[str]:
    app = create_app(settings, store)
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/console")
    posts = [route for route in mount.routes if isinstance(route, Route) and "POST" in (route.methods or ())]
    return [mount.path + route.path for route in posts]


def test_every_console_post_without_the_csrf_token_is_refused(site: Site, settings: Settings, store: Store) -> None:
    paths = console_post_paths(settings, store)
    assert {"/console/sign-in", "/console/sign-out"} <= set(paths)
    with signed_in(site, "sofia@desk.example") as client:
        for path in paths:
            assert client.post(path, data={"email": "sofia@desk.example"}).status_code == 403, path
            assert client.post(path, data={"csrf_token": "guessed"}).status_code == 403, path
        assert client.get("/console/reports?from=2026-03-02&to=2026-03-02").status_code == 200  # still signed in


def test_failed_sign_ins_are_limited_per_account_and_address(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/sign-in").text)
        assert token is not None

        def attempt(email: str, password: str) -> int:
            form = {"csrf_token": token.group(1), "email": email, "password": password}
            return client.post("/console/sign-in", data=form).status_code

        assert [attempt("sofia@desk.example", f"guess {i}") for i in range(5)] == [401] * 5  # [auth] signin_attempts
        assert attempt("Sofia@Desk.example", PASSWORD) == 429  # the right password, too late; any spelling
        assert attempt("alex@desk.example", PASSWORD) == 429  # and from this address, any account (the API's limiter)


def test_an_agent_may_not_read_the_reports(site: Site) -> None:
    with signed_in(site, "alex@desk.example") as client:
        assert client.get("/console/reports").status_code == 403
        assert client.get("/console/reports.csv?from=2026-03-02&to=2026-03-02").status_code == 403
    with signed_in(site, "sofia@desk.example") as client:
        bad = client.get("/console/reports?from=2026-03-03&to=2026-03-02")
        assert bad.status_code == 400 and "Choose a valid range" in bad.text


def test_pages_come_with_a_strict_content_security_policy_and_a_protected_cookie(site: Site) -> None:
    answer = httpx.get(f"{site.url}/console/sign-in")
    assert "script-src 'self'; style-src 'self';" in answer.headers["content-security-policy"]
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    tampered = httpx.get(f"{site.url}/console/reports", cookies={"hl_console": "e30.forged.sig"})
    assert tampered.status_code == 303 and tampered.headers["location"].startswith("/console/sign-in")


def test_the_vendored_scripts_are_served(site: Site) -> None:
    htmx = httpx.get(f"{site.url}/console/static/vendor/htmx-2.0.11.min.js")
    chart = httpx.get(f"{site.url}/console/static/vendor/chart-4.6.1.umd.min.js")
    assert htmx.status_code == 200 and htmx.text.startswith("var htmx=")
    assert chart.status_code == 200 and "Chart.js v4.6.1" in chart.text[:200]


def test_the_running_app_signs_agents_in_against_the_agents_store(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    """No identities given: the app uses the record's agents (desk/agents.py), and a rotation ends the session."""
    configured = settings.model_copy(
        update={"web": settings.web.model_copy(update={"console_secret_file": tmp_path / "secret"})}
    )
    assert configured.database.url is not None
    record = engine_for(configured.database.url)
    agents = AgentStore(record)
    mei = agents.add("Mei", "mei@desk.example", languages=["zh", "en"], role=Role.SUPERVISOR)
    agents.set_password(mei.id, PASSWORD)
    server = WebServer(create_app(configured, store, record)).start()
    try:
        with httpx.Client(base_url=server.url) as client:
            form = client.get("/console/sign-in")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token is not None
            refused = client.post(
                "/console/sign-in", data={"csrf_token": token.group(1), "email": mei.email, "password": "wrong"}
            )
            assert refused.status_code == 401
            form = client.get("/console/sign-in")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token is not None
            signed_in = client.post(
                "/console/sign-in", data={"csrf_token": token.group(1), "email": mei.email, "password": PASSWORD}
            )
            assert signed_in.status_code in (302, 303)
            assert client.get("/console/reports").status_code == 200
            agents.rotate_token(mei.id)  # a rotation ends every session of the agent
            after = client.get("/console/reports")
            assert after.status_code in (302, 303) and "/console/sign-in" in after.headers["location"]
    finally:
        server.stop()
        record.dispose()


def test_the_session_secret_is_made_once_and_kept_private(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "var" / "console_secret"
    configured = settings.model_copy(update={"web": settings.web.model_copy(update={"console_secret_file": path})})
    first = console_secret(configured)
    assert console_secret(configured) == first and len(first) >= 48
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    from pydantic import SecretStr

    from_env = configured.model_copy(
        update={"web": configured.web.model_copy(update={"console_secret": SecretStr("from-the-environment")})}
    )
    assert console_secret(from_env) == "from-the-environment"


def test_every_ui_string_exists_in_both_languages() -> None:
    assert STRINGS["en"].keys() == STRINGS["zh"].keys()
    assert all(STRINGS["zh"][key] != STRINGS["en"][key] for key in ("sign_in", "reports", "corrections"))


@pytest.mark.parametrize(
    ("agent", "header", "expected"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        (None, "fr-FR,zh-TW;q=0.5,en;q=0.4", "zh"),
        (None, "de", "en"),
        (None, "", "en"),
        (None, "en;q=0,zh;q=0.1", "zh"),
        ("zh", "en-US", "zh"),
        ("en", "zh-CN", "en"),
        ("fr", "zh-CN", "zh"),
    ],
)
def test_the_ui_language(agent: str | None, header: str, expected: str) -> None:
    assert choose(agent, header) == expected
    if agent is None:
        assert from_accept_language(header) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/console/reports?from=2026-03-02", "/console/reports?from=2026-03-02"),
        ("https://evil.example/console/", "/console/queues"),
        ("//evil.example/console/", "/console/queues"),
        ("/console/\\evil", "/console/queues"),
        ("/elsewhere", "/console/queues"),
        (None, "/console/queues"),
    ],
)
def test_sign_in_returns_only_to_a_console_page(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_times_and_shares_read_as_people_write_them() -> None:
    t = translator("en")
    assert [duration(s, t) for s in (None, 45, 300, 539.6, 5400, 90000)] == [
        "–", "45 s", "5 min", "9 min", "1 h 30 min", "25 h 0 min"
    ]  # fmt: skip
    assert duration(3725, translator("zh")) == "1 小时 2 分"
    assert [share(v) for v in (None, 0.75, 2 / 3, 1.0)] == ["–", "75%", "66.7%", "100%"]


def test_reports_say_so_when_the_record_is_away(settings: Settings, store: Store, redis: Redis, tmp_path: Path) -> None:
    away = "postgresql+psycopg://postgres@/helpline?host=/nonexistent-record-socket"
    configured = settings.model_copy(
        update={
            "database": settings.database.model_copy(update={"url": away}),
            "web": settings.web.model_copy(update={"console_secret_file": tmp_path / "secret"}),
        }
    )
    identities = RedisIdentities(redis)
    identities.add("a-sofia", "Sofia Supervisor", "sofia@desk.example", PASSWORD, Role.SUPERVISOR)
    server = WebServer(create_app(configured, store, identities=identities)).start()
    try:
        with signed_in(Site(server.url, identities, None), "sofia@desk.example") as client:  # type: ignore[arg-type]
            page = client.get("/console/reports?from=2026-03-02&to=2026-03-02")
            assert page.status_code == 503 and "cannot be reached" in page.text
            assert client.get("/console/reports.csv?from=2026-03-02&to=2026-03-02").status_code == 503
            assert client.get("/healthz").status_code == 200  # the rest of the web app does not notice
    finally:
        server.stop()
