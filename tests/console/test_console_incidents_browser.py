"""The incident pages in headless Chromium: a supervisor goes to Incidents from the navigation, opens one, links the
outage's cases by a search, answers in both languages and sees each case answered and resolved, under the page's
Content-Security-Policy (nothing refused)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from core.settings import Settings
from core.store import Store
from tests.console.conftest import Site, sign_in
from tests.console.test_console_incidents import OUTAGE, routed

pytestmark = pytest.mark.slow


def test_a_supervisor_opens_links_and_answers_an_incident(
    page: Page, site: Site, settings: Settings, store: Store
) -> None:
    ann, bo = routed(
        settings, store,
        ("cb1@example.com", f"{OUTAGE}, please help", "ann@example.com", "en"),
        ("cb2@example.com", "充值失败了，钱被扣了 (money is gone)", "bo@example.com", "zh"),
    )  # fmt: skip
    refused: list[str] = []  # a script or style the page's CSP refused would show in the browser's console
    page.on("console", lambda message: refused.append(message.text) if "Security Policy" in message.text else None)
    sign_in(page, site, "sofia@desk.example")
    page.click("header nav >> text=Incidents")
    page.wait_for_url("**/console/incidents")

    page.fill("#open-incident input[name=title]", "Top-ups delayed")
    page.fill("#open-incident textarea[name=notice_en]", "Top-ups are delayed; no need to write again.")
    page.click("#open-incident button[type=submit]")
    page.wait_for_url("**/console/incidents/i-*?opened=1")
    assert page.locator("#incident-done").inner_text() == "Incident opened."
    assert "Top-ups are delayed" in page.locator("#incident-notice").inner_text()

    page.fill("#link-search input[name=query]", "money is gone")
    page.click("#link-search button[type=submit]")
    page.wait_for_url("**added=2**")
    assert sorted(page.locator("#incident-cases tbody tr").evaluate_all("rows => rows.map(r => r.dataset.case)")) == (
        sorted([ann, bo])
    )
    assert page.locator(f"tr[data-case='{bo}'] td").nth(3).inner_text() == "Chinese"

    page.fill("#answer-incident textarea[name=text_en]", "Top-ups work again; yours has been credited.")
    page.fill("#answer-incident textarea[name=text_zh]", "充值已恢复，款项已到账。")
    page.click("#answer-incident button[type=submit]")
    page.wait_for_url("**answered=2")
    assert page.locator("#incident-status").inner_text() == "Resolved"
    assert page.locator("td.outcome").all_inner_texts() == ["Answered and resolved", "Answered and resolved"]
    assert page.locator("#answer-incident").count() == 0
    assert refused == []
