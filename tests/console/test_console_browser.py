"""The console in headless Chromium: sign in, the reports page's figures (tests/console/seed.py works them out by
hand), the CSV download, a form posted without its CSRF token, sign-out, and a Chinese-UI agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from playwright.sync_api import Page

from tests.console.conftest import Site, sign_in

pytestmark = pytest.mark.slow
WHOLE_DAY = "2026-03-02T00:00:00+00:00/2026-03-03T00:00:00+00:00"


def cells(page: Page, selector: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in row.locator("td").all_inner_texts()]
        for row in page.locator(f"{selector} tbody tr").all()
    ]


def test_a_supervisor_signs_in_and_reads_the_days_figures(page: Page, site: Site) -> None:
    refused: list[str] = []  # the browser's console: a script or style the page's CSP refused would show here
    page.on("console", lambda message: refused.append(message.text) if "Security Policy" in message.text else None)
    page.goto(site.console("/reports?from=2026-03-02&to=2026-03-02"))
    assert "/console/sign-in" in page.url  # not signed in: sent to sign in first
    page.fill("input[name=email]", "sofia@desk.example")
    page.fill("input[name=password]", "not the password")
    page.click("#sign-in-form button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "That email and password do not match an agent who may sign in."

    sign_in(page, site, "sofia@desk.example")
    assert page.locator("[data-agent=a-sofia]").inner_text() == "Sofia Supervisor"
    # One period (the range chosen): no period column. Channels email, sms, telegram, then the total.
    assert page.locator("#volume-channel th").all_inner_texts() == ["Queue", "Email", "SMS", "Telegram", "Total"]
    assert cells(page, "#volume-channel") == [["payments", "3", "1", "0", "4"], ["security", "0", "0", "1", "1"]]
    assert cells(page, "#volume-category") == [
        ["payments", "fees", "3"],
        ["payments", "top_up", "1"],
        ["security", "security", "1"],
    ]
    assert cells(page, "#times") == [
        ["payments", "5 min", "9 min", "3", "1 h 30 min", "1 h 54 min", "2"],
        ["security", "30 min", "30 min", "1", "1 h 30 min", "1 h 30 min", "1"],
    ]
    assert cells(page, "#service") == [["payments", "75%", "50%", "50%", "2"], ["security", "–", "–", "100%", "1"]]
    assert cells(page, "#corrections") == [["fees", "refund", "2"], ["top_up", "fees", "1"]]
    # The charts were drawn by the vendored Chart.js, from /console/static, under the page's CSP.
    page.wait_for_selector("body[data-charts-ready=true]")
    assert page.evaluate("Object.keys(Chart.instances).length") == 4
    assert page.locator("#times canvas").bounding_box()["height"] > 150  # type: ignore[index]  # sized, drawn

    # One agent's cases: Alex has t-1 and t-2 (payments); his two corrections. htmx swaps the report in place
    # (the page is not reloaded: the draw count goes on) and the address follows.
    page.select_option("select[name=agent]", "a-alex")
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("body[data-draws='2']")
    assert "agent=a-alex" in page.url
    assert page.evaluate("Object.keys(Chart.instances).length") == 4  # the old report's charts were let go
    assert refused == []
    assert cells(page, "#volume-channel") == [["payments", "2", "1", "3"]]
    assert cells(page, "#corrections") == [["fees", "refund", "2"]]

    # Day by day, two days of one queue: a period column; the follow-up of 3 March counts on its own day.
    page.goto(site.console("/reports?from=2026-03-02&to=2026-03-03&period=day&queue=payments"))
    assert page.locator("#volume-channel th").all_inner_texts() == ["Period", "Queue", "Email", "SMS", "Total"]
    days = [["2026-03-02", "payments", "3", "1", "4"], ["2026-03-03", "payments", "1", "0", "1"]]
    assert cells(page, "#volume-channel") == days


def test_the_csv_download_holds_the_figures(page: Page, site: Site, tmp_path: Path) -> None:
    sign_in(page, site, "sofia@desk.example", "/reports?from=2026-03-02&to=2026-03-02&queue=payments")
    with page.expect_download() as download:
        page.click("#csv")
    assert download.value.suggested_filename == "helpline-report-2026-03-02-2026-03-02.csv"
    saved = tmp_path / "report.csv"
    download.value.save_as(saved)
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "period,queue,measure,by,value"
    for expected in (
        f"{WHOLE_DAY},payments,volume,channel=email,3",
        f"{WHOLE_DAY},payments,first_response_median_seconds,,300",
        f"{WHOLE_DAY},payments,first_response_p90_seconds,,540",
        f"{WHOLE_DAY},payments,resolution_p90_seconds,,6840",
        f"{WHOLE_DAY},payments,sla_first_response_attainment,,0.75",
        f"{WHOLE_DAY},payments,csat_share,,0.5",
        f'{WHOLE_DAY},payments,corrections,"from=fees,to=refund",2',
    ):
        assert expected in lines
    assert all(",payments," in line for line in lines[1:])  # the queue chosen, only


def test_a_form_posted_without_its_csrf_token_is_refused(page: Page, site: Site) -> None:
    sign_in(page, site, "sofia@desk.example")
    # The page's own sign-out form, its token removed, as a forged cross-site form would arrive.
    page.evaluate("document.querySelector('#sign-out').form.querySelector('input[name=csrf_token]').remove()")
    page.click("#sign-out")
    assert page.locator("[role=alert]").inner_text().startswith("This form has expired")
    status = page.evaluate(
        "fetch('/console/sign-out', {method: 'POST', body: new URLSearchParams({csrf_token: 'forged'})})"
        ".then(r => r.status)"
    )
    assert status == 403
    page.goto(site.console("/reports?from=2026-03-02&to=2026-03-02"))
    assert "/console/reports" in page.url  # still signed in: the refused forms did nothing


def test_signing_out_ends_the_session_even_for_a_kept_copy_of_the_cookie(page: Page, site: Site) -> None:
    sign_in(page, site, "sofia@desk.example")
    kept = page.context.cookies()
    page.click("#sign-out")
    page.wait_for_url("**/console/sign-in")
    page.goto(site.console("/reports"))
    assert "/console/sign-in" in page.url
    page.context.add_cookies(cast(Any, kept))  # the cookie as it was before signing out
    page.goto(site.console("/reports"))
    assert "/console/sign-in" in page.url


def test_a_rotated_password_ends_the_agents_sessions(page: Page, site: Site) -> None:
    sign_in(page, site, "sofia@desk.example")
    site.identities.rotate("a-sofia")
    page.goto(site.console("/reports"))
    assert "/console/sign-in" in page.url


def test_a_chinese_ui_agent_sees_chinese_labels(page: Page, site: Site) -> None:
    sign_in(page, site, "lina@desk.example")  # the browser asks for English; the agent's own language wins
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "报表"
    assert page.locator("#sign-out").inner_text() == "退出登录"
    assert page.locator("#corrections h2").inner_text() == "客服最常更正的类别"
    assert cells(page, "#times")[0][1:3] == ["5 分", "9 分"]
    assert page.locator("#volume-channel th").all_inner_texts() == ["队列", "邮件", "短信", "Telegram", "合计"]
    assert "(主管)" in page.locator("header .who").inner_text()
