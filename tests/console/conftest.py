"""The console served for real: the web app on uvicorn (a free port) over the tests' Redis and a fresh PostgreSQL
record, agents in a real implementation of the identity seam, and one headless Chromium per test module (Debian's
`chromium`, driven by Playwright; Playwright's own browser download cannot work here) with a fresh context — its
own cookies — per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from redis import Redis
from sqlalchemy import Engine

from core.agent_settings import Role
from core.settings import Settings
from core.store import Store
from record.engine import engine_for
from tests.console.seed import seed
from tests.support.console_identities import RedisIdentities
from tests.support.web_server import WebServer
from web.app import create_app

PASSWORD = "correct horse battery staple"


@dataclass
class Site:
    url: str
    identities: RedisIdentities
    record: Engine

    def console(self, path: str) -> str:
        return f"{self.url}/console{path}"


@pytest.fixture
def site(settings: Settings, store: Store, redis: Redis, tmp_path: Path) -> Iterator[Site]:
    identities = RedisIdentities(redis)
    identities.add("a-sofia", "Sofia Supervisor", "sofia@desk.example", PASSWORD, Role.SUPERVISOR)
    identities.add("a-li", "李娜", "lina@desk.example", PASSWORD, Role.SUPERVISOR, language="zh")
    identities.add("a-alex", "Alex Agent", "alex@desk.example", PASSWORD, Role.AGENT)
    configured = settings.model_copy(
        update={"web": settings.web.model_copy(update={"console_secret_file": tmp_path / "console_secret"})}
    )
    assert configured.database.url is not None
    record = engine_for(configured.database.url)
    with record.begin() as connection:
        seed(connection)
    server = WebServer(create_app(configured, store, identities=identities)).start()
    yield Site(server.url, identities, record)
    server.stop()
    record.dispose()


# Module scope, not session: Playwright's sync API keeps an event loop running in the main thread while it is
# started, and every later test in the same process that calls asyncio.run() (the Telegram poller's, for one) would
# fail with "cannot be called from a running event loop". The browser tests live in one module: one browser still.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is not installed: run scripts/install-system-deps.sh (make system-deps)")
    browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)  # a loaded machine, not a slow page: nothing here waits on purpose
    yield page
    context.close()


def sign_in(page: Page, site: Site, email: str, path: str = "/reports?from=2026-03-02&to=2026-03-02") -> None:
    page.goto(site.console(path))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_url("**/console/reports**")
