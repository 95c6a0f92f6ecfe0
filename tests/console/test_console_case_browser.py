"""The case view in headless Chromium (one browser for the module, tests/console/conftest.py): a Chinese HTML mail
through Helpline's own SMTP server, read by the agent of its queue with its script not run and its remote image not
fetched; her reply reaches the relay (the send job run by an in-process worker) and its state turns to sent on the
page by itself; Resolve, and the survey goes out. A second browser watching the same case sees the first's reply and
a new customer message arrive without a reload, and a `<script>` stored in that message does not run either."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from core.ids import conversation_reference
from core.settings import Settings
from core.store import Store
from tests.console.case_support import (
    TITLE_SCRIPT,
    CaseSite,
    case_site,
    customer_mail,
    file_mail,
    mailed_case,
    open_case,
    smtp_intake,
)
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain

pytestmark = pytest.mark.slow


@pytest.fixture
def site(settings: Settings, store: Store, tmp_path: Path) -> Iterator[CaseSite]:
    with case_site(settings, store, tmp_path, queue="payments", other_queue="security") as s:
        yield s


@pytest.fixture
def smtp_port(site: CaseSite) -> Iterator[int]:
    with smtp_intake(site) as port:
        yield port


def test_read_a_chinese_html_mail_reply_resolve_and_the_survey_goes(
    site: CaseSite, smtp_port: int, smtp_sink: SmtpSink, browser: Browser
) -> None:
    case = mailed_case(site, smtp_port, "<lin-1@example.cn>")
    assert len(smtp_sink.wait_for(1)) == 1  # the acknowledgement
    page = open_case(browser, site, "mei", case)
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Security Policy" in message.text else None)
    try:
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("#case-reference").inner_text() == conversation_reference(case)
        assert page.locator("#case-status").inner_text() == "处理中"
        mail = page.locator(f"#msg-{site.store.message_ids()[0]}")
        assert mail.locator(".channel-icon").get_attribute("data-channel") == "email"
        frame = page.frame_locator("iframe.mail-html").first
        assert "我昨天用借记卡充值了 500 元" in frame.locator("body").inner_text()
        assert frame.locator("b").inner_text() == "充值"  # the sender's formatting, kept
        assert page.locator(".images-blocked").inner_text().startswith("已拦截 1 张远程图片")
        assert page.title() != "pwned" and page.evaluate("window.pwned === undefined")
        assert not any("tracker.invalid" in url for url in fetched)

        page.fill("#reply-text", "您好，款项已补发到账，请查收。")
        page.click("#reply-send")
        page.wait_for_url("**?done=answered")
        assert page.locator("#case-status").get_attribute("data-status") == "pending"
        answer = page.locator(".purpose-answer")
        assert answer.get_attribute("data-state") == "queued" and "款项已补发到账" in answer.inner_text()
        page.evaluate("window.stillHere = true")

        drain(site.settings)  # a worker runs the send job
        sent = smtp_sink.wait_for(2)[1].message
        assert sent["To"] == "lin@example.cn" and "款项已补发到账，请查收。" in sent.get_content()
        assert sent["In-Reply-To"] == "<lin-1@example.cn>"
        page.wait_for_selector(".purpose-answer[data-state=sent]")  # the page followed the send by itself
        assert page.evaluate("window.stillHere === true")  # no reload

        page.click("#resolve")
        page.wait_for_url("**?done=resolved")
        assert page.locator("#case-status").inner_text() == "已解决"
        drain(site.settings, include_scheduled=True)  # the survey is due a second after the resolution
        survey = smtp_sink.wait_for(3)[2].message
        assert str(survey["Subject"]).startswith("请评价我们的服务") and survey["To"] == "lin@example.cn"
        assert refused == [] and page.title() != "pwned"
    finally:
        page.context.close()


def test_a_second_browser_sees_the_reply_and_a_new_message_arrive_live(
    site: CaseSite, smtp_port: int, browser: Browser
) -> None:
    case = mailed_case(site, smtp_port, "<lin-2@example.cn>")
    mei = open_case(browser, site, "mei", case)
    sofia = open_case(browser, site, "sofia", case)  # a supervisor watching the floor, in English
    try:
        assert sofia.locator("#case-status").inner_text() == "open"
        sofia.evaluate("window.stillHere = true")

        mei.fill("#reply-text", "我们正在核查，请稍候。")
        mei.click("#reply-send")
        mei.wait_for_url("**?done=answered")
        sofia.wait_for_selector(".purpose-answer:has-text('我们正在核查')")  # the first browser's reply, live
        assert sofia.locator("#case-status").inner_text() == "pending"

        # The customer writes again; her mail carries a script, stored as it came (no ingest sanitiser on this path).
        text, html = "还是没到账，请尽快处理。", f"<p>还是没到账</p>{TITLE_SCRIPT}"
        follow_up = customer_mail("<lin-3@example.cn>", text, html=html)
        # (Threaded by In-Reply-To, in the form the mail parser keeps Message-IDs: without the angle brackets.)
        threaded = follow_up.model_copy(update={"in_reply_to": "lin-2@example.cn"})
        assert file_mail(site.settings, site.store, threaded) == case
        for page in (sofia, mei):
            page.locator(".entry.message").nth(1).wait_for()
            assert "还是没到账，请尽快处理。" in (page.locator(".entry.message").last.text_content() or "")
            assert page.locator("#case-status").get_attribute("data-status") == "open"  # she wrote: open again
            assert page.title() != "pwned" and page.evaluate("window.pwned === undefined")
        assert sofia.evaluate("window.stillHere === true")  # arrived without a reload
        assert int(sofia.evaluate("document.body.dataset.caseUpdates")) >= 2
        assert "还是没到账" in sofia.frame_locator("iframe.mail-html").last.locator("body").inner_text()
    finally:
        mei.context.close()
        sofia.context.close()
