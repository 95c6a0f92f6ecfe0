"""The queues overview in headless Chromium: an agent signs in, sees the case waiting in their queue, sees a new one
arrive without reloading (server-sent events, then htmx refreshing the table), and presses Next."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from core.inbox import Inbox
from core.settings import Settings
from core.store import Store
from tests.console.conftest import PASSWORD, Site
from tests.console.test_console_floor import floor, reference  # noqa: F401  (the fixture)
from tests.test_api_cases import routed

pytestmark = pytest.mark.slow


def test_a_new_case_appears_live_and_next_opens_the_most_urgent(
    page: Page,
    floor: Site,  # noqa: F811
    settings: Settings,
    store: Store,
) -> None:
    refused: list[str] = []  # a script the page's CSP refused would show in the browser's console
    page.on("console", lambda message: refused.append(message.text) if "Security Policy" in message.text else None)
    [(first, _)] = routed(settings, store, ("w1@example.com", "refund please", "ann@example.com"))

    page.goto(floor.console("/queues"))
    assert "/console/sign-in" in page.url
    page.fill("input[name=email]", "alex@desk.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_url("**/console/queues")
    waiting = page.locator("tbody[data-queue=payments] td.waiting")
    expect(waiting).to_have_text("1")
    assert page.locator("tbody[data-queue=security]").count() == 0  # not Alex's queue

    page.wait_for_selector("body[data-live-ready=true]")  # the event stream is open
    page.evaluate("window.notReloaded = true")
    routed(settings, store, ("w2@example.com", "my top-up failed", "cy@example.com"))
    expect(waiting).to_have_text("2")
    assert page.evaluate("window.notReloaded === true")  # the same page: the table was swapped in place
    assert int(page.evaluate("document.body.dataset.liveEvents")) >= 1

    page.click("#next")
    page.wait_for_url("**/console/cases/**")
    # Both are high priority with the same target: the longer wait goes first. (The case view is another page's;
    # the address is what Next decides.)
    assert page.url == floor.console(f"/cases/{reference(floor, first)}")
    assert Inbox(store).load("a-alex") == [first]
    assert refused == []
