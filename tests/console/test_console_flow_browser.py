"""The issue's proof as one agent's day, in order, in headless Chromium (one browser for the module,
tests/console/conftest.py). A Chinese customer's HTML mail (a `<script>`, an `onerror` image, a remote image) arrives
over SMTP at Helpline's own intake; Mei, the agent of its queue, signs in with her email and password, sees it wait
in the queues overview and presses Next; on the case view she reads the Chinese text in the sandboxed frame (the
script did not run, the remote image was not fetched), answers with a canned reply in Chinese picked and previewed in
the page, sees it reach the relay and its state turn to sent without a reload, and resolves: the survey goes out in
Chinese. Meanwhile Sofia, a supervisor in a second browser with the case open, sees Mei's reply and the customer's
next mail arrive live. Last, a form posted without its CSRF token is refused (403) and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from core.ids import conversation_reference
from core.inbox import Inbox
from core.settings import Settings
from core.store import Store
from desk.canned import render_canned
from desk.context import DeskContext
from desk.notes import case_notes
from router.hours import BusinessCalendar
from tests.console.case_support import (
    TITLE_SCRIPT,
    CaseSite,
    case_site,
    customer_mail,
    file_mail,
    mailed_case,
    open_case,
    signed_in_page,
    smtp_intake,
)
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain

pytestmark = pytest.mark.slow

CANNED = "known-outage"  # a canned reply with a Chinese version


@pytest.fixture
def site(settings: Settings, store: Store, tmp_path: Path) -> Iterator[CaseSite]:
    with case_site(settings, store, tmp_path, queue="payments", other_queue="security") as s:
        yield s


@pytest.fixture
def smtp_port(site: CaseSite) -> Iterator[int]:
    with smtp_intake(site) as port:
        yield port


def test_an_agents_day_from_sign_in_to_the_survey(
    site: CaseSite, smtp_port: int, smtp_sink: SmtpSink, browser: Browser
) -> None:
    case = mailed_case(site, smtp_port, "<lin-day@example.cn>")
    reference = conversation_reference(case)
    assert len(smtp_sink.wait_for(1)) == 1  # the acknowledgement
    ctx = DeskContext(site.settings, site.store, BusinessCalendar.from_settings(site.settings), site.record)
    mei = signed_in_page(browser, site, "mei", "/queues")  # email and password, then home: the queues overview
    fetched: list[str] = []  # every request of her page, its frames' too
    mei.on("request", lambda request: fetched.append(request.url))
    refused: list[str] = []  # a script the page's CSP refused would show in the browser's console
    mei.on("console", lambda message: refused.append(message.text) if "Security Policy" in message.text else None)
    opened = [mei]
    try:
        # The queues overview: her queue, the mail waiting in it; not the other queue.
        assert mei.locator("html").get_attribute("lang") == "zh-CN"
        expect(mei.locator("tbody[data-queue=payments] td.waiting")).to_have_text("1")
        assert mei.locator("tbody[data-queue=security]").count() == 0

        # Next: the case is hers, and its view opens.
        mei.click("#next")
        mei.wait_for_url(f"**/console/cases/{reference}")
        mei.wait_for_selector("#case-live")
        assert Inbox(site.store).load(site.agents["mei"]) == [case]
        assert mei.locator("#case-reference").inner_text() == reference
        # Sofia, a supervisor watching the floor (in English), opens the same case in her own browser once Next has
        # taken it. (Not before: the case view's live part is fetched again on a change, and a second change landing
        # while that fetch renders can go untold, web/console/case_page.py reading the page's fingerprint after its
        # content; opened now, nothing else moves until Mei's reply.)
        sofia = open_case(browser, site, "sofia", case)
        opened.append(sofia)
        assert sofia.locator("#case-agent").inner_text() == "陈美"
        sofia.evaluate("window.stillHere = true")

        # The Chinese mail, its formatting kept, inside the sandboxed frame; its script and onerror did not run and
        # its remote image was not fetched (blocked, and said so).
        frame_element = mei.locator("iframe.mail-html").first
        assert "allow-scripts" not in (frame_element.get_attribute("sandbox") or "allow-scripts")
        frame = mei.frame_locator("iframe.mail-html").first
        assert "我昨天用借记卡充值了 500 元" in frame.locator("body").inner_text()
        assert frame.locator("b").inner_text() == "充值"
        assert mei.locator(".images-blocked").inner_text().startswith("已拦截 1 张远程图片")
        assert mei.title() != "pwned" and mei.evaluate("window.pwned === undefined")
        assert any(url.endswith(f"/console/cases/{reference}") for url in fetched)  # the listener hears
        assert not any("tracker.invalid" in url for url in fetched)

        # A canned reply from the picker, previewed in the customer's language, then sent.
        expected = render_canned(ctx, case, CANNED, agent_name="陈美")
        assert expected.language == "zh"
        canned = mei.locator(f"li[data-canned={CANNED}]")
        assert "已知故障" in canned.inner_text()
        canned.locator("button[hx-get]").click()
        preview = mei.locator(f"#canned-preview [data-canned-preview={CANNED}]")
        preview.wait_for()
        assert preview.get_attribute("data-language") == "zh" and "技术团队正在全力修复" in preview.inner_text()
        mei.click(f"#canned-form-{CANNED} button[type=submit]")
        mei.wait_for_url("**?done=answered")
        answer = mei.locator(".purpose-answer")
        assert answer.get_attribute("data-state") == "queued" and "技术团队正在全力修复" in answer.inner_text()
        mei.evaluate("window.stillHere = true")

        # Sofia's page shows Mei's reply by itself.
        sofia.wait_for_selector(".purpose-answer:has-text('技术团队正在全力修复')")

        # A worker runs the send job: the canned text, in Chinese, reaches the relay; the page follows by itself.
        drain(site.settings)
        sent = smtp_sink.wait_for(2)[1].message
        assert sent["To"] == "lin@example.cn" and sent["In-Reply-To"] == "<lin-day@example.cn>"
        assert sent.get_content().strip() == expected.text.strip()
        mei.wait_for_selector(".purpose-answer[data-state=sent]")
        assert mei.evaluate("window.stillHere === true")  # no reload
        sofia.wait_for_selector(".purpose-answer[data-state=sent]")

        # The customer writes again, a script in her HTML: both pages show it live, neither runs it.
        follow_up = customer_mail("<lin-day-2@example.cn>", "收到，谢谢！", html=f"<p>收到，谢谢！</p>{TITLE_SCRIPT}")
        threaded = follow_up.model_copy(update={"in_reply_to": "lin-day@example.cn"})  # as the mail parser keeps it
        assert file_mail(site.settings, site.store, threaded) == case
        for page in (sofia, mei):
            page.locator(".entry.message").nth(1).wait_for()
            assert "收到，谢谢！" in (page.locator(".entry.message").last.text_content() or "")
            assert page.title() != "pwned" and page.evaluate("window.pwned === undefined")
        assert sofia.evaluate("window.stillHere === true") and mei.evaluate("window.stillHere === true")
        assert "收到，谢谢" in sofia.frame_locator("iframe.mail-html").last.locator("body").inner_text()

        # Resolve; the survey goes out, in Chinese, once due (a second after: the site's survey delay).
        mei.click("#resolve")
        mei.wait_for_url("**?done=resolved")
        assert mei.locator("#case-status").inner_text() == "已解决"
        drain(site.settings, include_scheduled=True)
        survey = smtp_sink.wait_for(3)[2].message
        assert str(survey["Subject"]).startswith("请评价我们的服务") and survey["To"] == "lin@example.cn"
        sofia.wait_for_selector("#case-status[data-status=resolved]")

        # A form posted without its CSRF token: the page's own note form, its token removed, as a forged cross-site
        # form would arrive; then a reply sent by script with no token. Both 403; nothing changed.
        mei.evaluate("document.querySelector('#note-form input[name=csrf_token]').remove()")
        mei.fill("#note-text", "伪造的备注")
        with mei.expect_response(lambda response: response.url.endswith("/notes")) as posted:
            mei.click("#note-form button[type=submit]")
        assert posted.value.status == 403
        assert mei.locator("[role=alert]").inner_text() == "表单已过期或并非从控制台提交，请刷新页面后重试。"
        status = mei.evaluate(
            f"fetch('/console/cases/{reference}/reply',"
            " {method: 'POST', body: new URLSearchParams({text: '伪造'})}).then(r => r.status)"
        )
        assert status == 403
        drain(site.settings, include_scheduled=True)
        assert len(smtp_sink.messages) == 3  # no forged reply went out
        assert case_notes(ctx, case) == []
        mei.goto(site.console(f"/cases/{reference}"))  # still signed in; the case as it was
        assert mei.locator("#case-status").get_attribute("data-status") == "resolved"
        assert mei.locator(".purpose-answer").count() == 1
        assert refused == [] and mei.title() != "pwned"
    finally:
        for page in opened:
            page.context.close()
