"""The case actions in headless Chromium (one browser for the module, tests/console/conftest.py): the agent of the
case's queue previews a canned reply (htmx, under the console's strict CSP) in the customer's language, sends it and
sees it reach the relay in Chinese, then adds an internal note; nothing is refused by the Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from core.ids import conversation_reference
from core.settings import Settings
from core.store import Store
from desk.context import DeskContext
from desk.notes import case_notes
from router.hours import BusinessCalendar
from tests.console.case_support import PASSWORD, CaseSite, case_site, customer_mail, file_mail
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain

pytestmark = pytest.mark.slow


@pytest.fixture
def site(settings: Settings, store: Store, tmp_path: Path) -> Iterator[CaseSite]:
    with case_site(settings, store, tmp_path, queue="payments", other_queue="security") as s:
        yield s


def test_preview_and_send_a_canned_reply_in_chinese_then_add_a_note(
    site: CaseSite, smtp_sink: SmtpSink, browser: Browser
) -> None:
    case = file_mail(
        site.settings, site.store, customer_mail("<lin-ca@example.cn>", "您好，我昨天充值了 500 元，但是没到账。")
    )
    acknowledged = len(smtp_sink.wait_for(1))
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Security Policy" in message.text else None)
    try:
        page.goto(site.console(f"/cases/{case}"))
        page.fill("input[name=email]", "mei@desk.example")
        page.fill("input[name=password]", PASSWORD)
        page.click("#sign-in-form button[type=submit]")
        page.wait_for_url(f"**/console/cases/{case}")

        outage = page.locator("li[data-canned=known-outage]")
        assert "已知故障" in outage.inner_text()  # its title in the customer's language
        outage.locator("button[hx-get]").click()
        preview = page.locator("#canned-preview [data-canned-preview=known-outage]")
        preview.wait_for()
        assert preview.get_attribute("data-language") == "zh" and "技术团队正在全力修复" in preview.inner_text()

        page.click("#canned-form-known-outage button[type=submit]")
        page.wait_for_url("**?done=answered")
        drain(site.settings)  # a worker runs the send job
        sent = smtp_sink.wait_for(acknowledged + 1)[acknowledged].message
        assert sent["To"] == "lin@example.cn" and "技术团队正在全力修复" in sent.get_content()
        assert conversation_reference(case) in sent.get_content() and "陈美" in sent.get_content()

        page.fill("#note-text", "已发常用回复：已知故障")
        page.click("#note-form button[type=submit]")
        page.wait_for_url("**?done=noted")
        assert page.locator("#case-done").inner_text() == "备注已添加。"
        assert "已发常用回复：已知故障" in page.locator("#case-notes").inner_text()
        ctx = DeskContext(site.settings, site.store, BusinessCalendar.from_settings(site.settings), site.record)
        assert [n.text for n in case_notes(ctx, case)] == ["已发常用回复：已知故障"]
        assert refused == []
    finally:
        context.close()
