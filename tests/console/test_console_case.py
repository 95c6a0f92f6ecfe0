"""The case view over HTTP (no browser), on a real Redis, PostgreSQL and SMTP sink: the page for an agent of the
case's queue and a supervisor, 403 for another queue's agent (the page, its parts, its files, its forms), the reply
box (CSRF, an empty reply, the reply queued and then sent, the case pending), Resolve and a refused second resolve,
a mail's HTML sanitised with its remote images blocked until asked for, files, and the live event stream."""

from __future__ import annotations

import base64
import html
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.envelope import Attachment, Channel, Envelope, Party
from core.ids import conversation_reference
from core.inbox import Inbox, Status
from core.settings import Settings
from core.store import Store
from desk.agents import AgentStore
from tests.console.case_support import CaseSite, case_site, csrf_of, customer_mail, file_mail, signed_in
from tests.support.fake_telegram import FakeTelegram, settings_for
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from web.console import case_page
from web.console.case_events import STALE, fingerprint
from web.console.mail_html import safe_mail_html

HOSTILE = (
    '<div><p>您好，我昨天<b>充值</b>了 500 元，但是没到账。</p>'
    '<script>document.title = "pwned"</script>'
    '<img src="https://tracker.example/open.gif?u=lin" onerror="document.title=\'pwned\'" alt="logo">'
    '<a href="javascript:alert(1)">点这里</a></div>'
)  # fmt: skip


@pytest.fixture
def site(settings: Settings, store: Store, tmp_path: Path) -> Iterator[CaseSite]:
    with case_site(settings, store, tmp_path, queue="payments", other_queue="security") as s:
        yield s


def mail_case(site: CaseSite, provider_id: str = "<cz-1@example.cn>", **kw: object) -> str:
    envelope = customer_mail(provider_id, "您好，我昨天充值了 500 元，但是没到账。", html=HOSTILE, **kw)  # type: ignore[arg-type]
    case = file_mail(site.settings, site.store, envelope)
    state = Inbox(site.store).case(case)
    assert state is not None and state.queue == "payments"  # 充值 … 没到账: a top-up, the payments team's
    return case


def test_the_agent_of_the_queue_reads_the_case_and_another_queues_agent_gets_403(site: CaseSite) -> None:
    case = mail_case(site)
    reference = conversation_reference(case)
    with signed_in(site, "mei") as mei:
        page = mei.get(f"/console/cases/{reference}")
        assert page.status_code == 200, page.text
        assert 'lang="zh-CN"' in page.text and "处理中" in page.text  # Mei's UI is Chinese; the case is open
        assert reference in page.text and "林晓" in page.text and 'data-channel="email"' in page.text
        assert "您好，我昨天充值了 500 元，但是没到账。" in page.text  # the text, and the HTML in its frame
        assert "<dt>金额</dt><dd>500 CNY</dd>" in page.text and "<dt>amount</dt>" not in page.text  # details, named
        frame = re.search(r'<iframe class="mail-html" sandbox="([^"]*)"[^>]*srcdoc="([^"]*)"', page.text, re.S)
        assert frame is not None and "allow-scripts" not in frame.group(1) and "allow-same-origin" not in frame.group(1)
        shown = html.unescape(frame.group(2))
        assert "<b>充值</b>" in shown
        assert "<script" not in shown and "pwned" not in page.text and "onerror" not in page.text
        assert "javascript:" not in page.text
        assert "tracker.example" not in page.text  # the remote image is blocked...
        assert "1 张远程图片" in page.text and f"?images={case}" not in page.text  # (linked by message id)
        message_id = re.search(r'data-message="(m-[^"]+)"', page.text)
        assert message_id is not None
        asked = mei.get(f"/console/cases/{case}?images={message_id.group(1)}")  # ...until the agent asks
        assert asked.status_code == 200 and "https://tracker.example/open.gif?u=lin" in html.unescape(asked.text)
        assert "img-src 'self' data: https: http:" in asked.headers["content-security-policy"]
        assert "script-src 'self';" in asked.headers["content-security-policy"]
        assert "onerror" not in asked.text and "pwned" not in asked.text
        assert "https:" not in page.headers["content-security-policy"]  # not asked: the strict policy
        assert "category: top_up" in html.unescape(page.text)  # the routing trace, in words
        assert mei.get(f"/console/cases/{case}/history").status_code == 200
        for nothing in ("HL-000000000000", "a@", "@", "+1 (", "<>", "t-", "m-", "%25", "x" * 2000, "１２３４５６７"):
            assert mei.get(f"/console/cases/{nothing}").status_code == 404, nothing  # bad input: a 404, never a 500
    with signed_in(site, "sofia") as sofia:
        assert sofia.get("/console/cases/lin@example.cn").status_code == 200  # a supervisor: any case, any handle
    with signed_in(site, "alex") as alex:
        for path in (f"/console/cases/{reference}", f"/console/cases/{case}/history", f"/console/cases/{case}/events",
                     f"/console/cases/{case}/files/{message_id.group(1)}/1"):  # fmt: skip
            assert alex.get(path).status_code == 403, path
        assert "不在您的队列中" not in alex.get(f"/console/cases/{case}").text  # Alex reads English
        assert "not in your queues" in alex.get(f"/console/cases/{case}").text


def test_reply_resolve_and_the_refusals(site: CaseSite, smtp_sink: SmtpSink) -> None:
    case = mail_case(site)
    acknowledgements = len(smtp_sink.wait_for(1))
    with signed_in(site, "mei") as mei:
        page = mei.get(f"/console/cases/{case}")
        token = csrf_of(page.text)
        refused = mei.post(f"/console/cases/{case}/reply", data={"text": "没有令牌"})
        assert refused.status_code == 403
        assert mei.post(f"/console/cases/{case}/reply", data={"text": "x", "csrf_token": "forged"}).status_code == 403
        empty = mei.post(f"/console/cases/{case}/reply", data={"text": "   ", "csrf_token": token})
        assert empty.status_code == 400 and "请先填写回复内容" in empty.text
        assert Inbox(site.store).case(case).status is Status.OPEN  # type: ignore[union-attr]

        sent = mei.post(f"/console/cases/{case}/reply", data={"text": "已为您补发到账，请查收。", "csrf_token": token})
        assert sent.status_code == 303 and sent.headers["location"] == f"/console/cases/{case}?done=answered"
        assert Inbox(site.store).case(case).status is Status.PENDING  # type: ignore[union-attr]
        after = mei.get(sent.headers["location"])
        assert "回复已进入发送队列" in after.text and "待客户回复" in after.text
        queued = re.search(r'purpose-answer" id="reply-[^"]+" data-reply="(r-[^"]+)" data-state="(\w+)"', after.text)
        assert queued is not None and queued.group(2) == "queued"  # before the send job ran
        assert "已为您补发到账，请查收。" in after.text

        drain(site.settings)  # a worker runs the send job: the reply reaches the relay
        reply = smtp_sink.wait_for(acknowledgements + 1)[-1].message
        assert "已为您补发到账，请查收。" in reply.get_content() and reply["To"] == "lin@example.cn"
        later = mei.get(f"/console/cases/{case}")
        assert f'data-reply="{queued.group(1)}" data-state="sent"' in later.text

        done = mei.post(f"/console/cases/{case}/resolve", data={"csrf_token": token})
        assert done.status_code == 303 and done.headers["location"].endswith("?done=resolved")
        assert Inbox(site.store).case(case).status is Status.RESOLVED  # type: ignore[union-attr]
        again = mei.post(f"/console/cases/{case}/resolve", data={"csrf_token": token})
        assert again.status_code == 409 and "already resolved" in again.text and 'role="alert"' in again.text
        late = mei.post(f"/console/cases/{case}/reply", data={"text": "还有一件事", "csrf_token": token})
        assert late.status_code == 409 and "reopen it first" in late.text
        assert "还有一件事" in late.text  # the draft is kept in the box

        drain(site.settings, include_scheduled=True)  # the survey, due a second after (0 turns surveys off)
        smtp_sink.wait_for(acknowledgements + 2)
        subjects = [str(m.message["Subject"]) for m in smtp_sink.messages]
        assert [s for s in subjects if s.startswith("请评价我们的服务")], subjects  # the survey, in her language
    with signed_in(site, "alex") as alex:
        token = csrf_of(alex.get(f"/console/cases/{case}").text)
        assert alex.post(f"/console/cases/{case}/reply", data={"text": "hi", "csrf_token": token}).status_code == 403
        assert alex.post(f"/console/cases/{case}/resolve", data={"csrf_token": token}).status_code == 403


def test_files_are_downloads_for_the_cases_agents_only(site: CaseSite) -> None:
    receipt = "收据 2026-03-02: 500.00 CNY".encode()
    envelope = customer_mail("<cz-files@example.cn>", "充值没到账，收据在附件里。", html=None)
    envelope.attachments = [
        Attachment(filename="收据.txt", content_type="text/html", size=len(receipt),
                   content_b64=base64.b64encode(receipt).decode()),
        Attachment(filename="big.pdf", content_type="application/pdf", size=50_000_000, truncated=True),
    ]  # fmt: skip
    case = file_mail(site.settings, site.store, envelope)
    with signed_in(site, "mei") as mei:
        page = mei.get(f"/console/cases/{case}")
        link = re.search(r'href="(/console/cases/[^"]+/files/[^"]+/1)" download', page.text)
        assert link is not None and "big.pdf" in page.text and "未保存该文件内容" in page.text
        got = mei.get(link.group(1))
        assert got.status_code == 200 and got.content == receipt  # from the attachment store, where the pipeline put it
        assert got.headers["content-disposition"].startswith("attachment;")  # never rendered in the console's origin
        assert "filename*=UTF-8''%E6%94%B6%E6%8D%AE.txt" in got.headers["content-disposition"]
        assert got.headers["content-security-policy"].startswith("sandbox")
        assert mei.get(link.group(1)[:-1] + "2").status_code == 404  # not kept
        assert mei.get(link.group(1)[:-1] + "9").status_code == 404
        elsewhere = customer_mail("<cz-other@example.cn>", "充值没到账", sender="x@y.cn")
        other = file_mail(site.settings, site.store, elsewhere)
        wrong_case = link.group(1).replace(case, other)
        assert mei.get(wrong_case).status_code == 404  # a message of another case, named under this one
    with signed_in(site, "alex") as alex:
        assert alex.get(link.group(1)).status_code == 403


def test_the_event_stream_says_changed_when_the_case_moves(site: CaseSite) -> None:
    case = mail_case(site)
    before = fingerprint(site.store, case, [])
    assert fingerprint(site.store, case, []) == before  # nothing moved: the same fingerprint
    follow_up = customer_mail("<cz-2@example.cn>", "还是没到账", html=None)
    file_mail(site.settings, site.store, follow_up.model_copy(update={"in_reply_to": "<cz-1@example.cn>"}))
    assert Inbox(site.store).case(case).seq == 2  # type: ignore[union-attr]  # the follow-up joined the case
    assert fingerprint(site.store, case, []) != before
    with signed_in(site, "mei") as mei:
        started = time.monotonic()
        with mei.stream("GET", f"/console/cases/{case}/events", params={"since": before}) as stream:
            assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
            lines = []
            for line in stream.iter_lines():
                lines.append(line)
                if line.startswith("data:"):
                    break
        assert "event: changed" in lines and time.monotonic() - started < 10
    with signed_in(site, "mei") as mei, pytest.raises(httpx.ReadTimeout):
        now = fingerprint(site.store, case, [])
        with mei.stream("GET", f"/console/cases/{case}/events", params={"since": now}, timeout=2.5) as stream:
            for line in stream.iter_lines():
                assert not line.startswith("event:")  # nothing moved: no event


def test_a_page_drawn_while_its_case_moved_is_stamped_stale(site: CaseSite, monkeypatch: pytest.MonkeyPatch) -> None:
    """A change landing between reading the case and taking its fingerprint would never be announced to that page;
    stamped stale, its stream says "changed" at once and the page fetches the history again."""
    case = mail_case(site)
    reading = case_page.case_messages  # type: ignore[attr-defined]

    def read_while_the_case_moves(*args: object, **kwargs: object) -> object:
        found = reading(*args, **kwargs)  # type: ignore[arg-type]
        site.store.redis.hincrby(Inbox(site.store).case_key(case), "seq", 1)  # the pipeline files a message now
        return found

    with signed_in(site, "mei") as mei:
        monkeypatch.setattr(case_page, "case_messages", read_while_the_case_moves)
        assert f"since={STALE}" in mei.get(f"/console/cases/{case}").text
        monkeypatch.setattr(case_page, "case_messages", reading)
        calm = mei.get(f"/console/cases/{case}").text
        assert f"since={STALE}" not in calm and re.search(r"since=[0-9a-f]{16}&", calm)  # a fingerprint again


def test_mail_html_is_cleaned_again_at_display() -> None:
    raw = (
        '<p onclick="x()">hi<img src="cid:logo@x"><img src="//t.example/a.gif"><img src="/console/reports">'
        '<img src="data:image/png;base64,AAAA"><a href="data:text/html,boo">d</a><style>p{}</style></p>'
    )
    hidden = safe_mail_html(raw, show_images=False, inline={"logo@x": "data:image/png;base64,QQ=="})
    assert hidden.blocked == 1 and "t.example" not in hidden.html and "onclick" not in hidden.html
    assert '<img src="data:image/png;base64,QQ==">' in hidden.html  # the mail's own inline image
    assert "/console/reports" not in hidden.html and "text/html" not in hidden.html and "<style" not in hidden.html
    assert 'target="_blank"' in hidden.html and 'rel="noopener noreferrer"' in hidden.html
    shown = safe_mail_html(raw, show_images=True, inline={})
    assert shown.blocked == 0 and 'src="//t.example/a.gif"' in shown.html and "cid:" not in shown.html


def test_a_telegram_photo_is_fetched_from_the_bot_api_when_the_agent_downloads_it(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    """Helpline keeps only a Telegram file's id: the console fetches the content with getFile on the download, and
    says so when Telegram does not give it (an expired file id here)."""
    fake = FakeTelegram().start()
    try:
        with case_site(settings_for(settings, fake), store, tmp_path, queue="payments", other_queue="security") as site:
            receipt = bytes(range(256)) * 4
            fake.add_file("receipt-photo", receipt)
            photos = [
                Attachment(
                    filename="photo.jpg",
                    content_type="image/jpeg",
                    size=len(receipt),
                    url="telegram-file:receipt-photo",
                ),
                Attachment(filename="old.jpg", content_type="image/jpeg", size=10, url="telegram-file:expired"),
            ]
            envelope = Envelope(
                channel=Channel.TELEGRAM, provider_id="tg:700:1", sender=Party(address="7001", name="Lin"),
                text="我充值了 500 元，没到账，截图在这里", language="zh", attachments=photos,
            )  # fmt: skip
            case = file_mail(site.settings, site.store, envelope)
            assert fake.calls("getFile") == []  # nothing fetched when the message came in
            with signed_in(site, "mei") as mei:
                page = mei.get(f"/console/cases/{case}")
                links = re.findall(r'href="(/console/cases/[^"]+/files/[^"]+/[12])" download', page.text)
                assert len(links) == 2  # both downloadable: Telegram holds them
                got = mei.get(links[0])
                assert got.status_code == 200 and got.content == receipt
                assert got.headers["content-disposition"].startswith("attachment;")
                refused = mei.get(links[1])
                assert refused.status_code == 502 and "Telegram 暂时未提供该文件" in refused.text
            assert [call.params["file_id"] for call in fake.calls("getFile")] == ["receipt-photo", "expired"]
    finally:
        fake.stop()


def test_a_voicemail_shows_its_transcript_and_recording_and_the_contacts_other_cases_are_linked(
    site: CaseSite,
) -> None:
    first = mail_case(site, "<cz-a@example.cn>")
    second = file_mail(site.settings, site.store, customer_mail("<cz-b@example.cn>", "另一笔充值也没到账", html=None))
    assert second != first  # a new mail, not a reply: a case of its own, of the same contact
    voicemail = Envelope(
        channel=Channel.VOICE, provider_id="RE0123456789abcdef0123456789abcdef", sender=Party(address="+8613800138000"),
        text="I topped up fifty dollars yesterday and it is not in my balance", language="en",
        extras={"recording_sid": "RE0123456789abcdef0123456789abcdef", "recording_duration": "17",
                "transcription_status": "completed"},
        attachments=[Attachment(filename="RE0123.mp3", content_type="audio/mpeg",
                                url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0123.mp3")],
    )  # fmt: skip
    call = file_mail(site.settings, site.store, voicemail)
    with signed_in(site, "sofia") as sofia:
        page = sofia.get(f"/console/cases/{first}")
        assert f'href="/console/cases/{second}"' in page.text  # the contact's other case, linked
        both = sofia.get("/console/cases/lin@example.cn")  # her address names both: the page lists them
        assert both.status_code == 200 and "Several cases match" in both.text
        assert f'href="/console/cases/{first}"' in both.text and f'href="/console/cases/{second}"' in both.text
        token = csrf_of(page.text)
        refused = sofia.post("/console/cases/lin@example.cn/resolve", data={"csrf_token": token})
        assert refused.status_code == 409 and "several cases" in refused.text  # a write acts on one case only
        assert Inbox(site.store).case(first).status is Status.OPEN  # type: ignore[union-attr]
        heard = sofia.get(f"/console/cases/{call}")
        assert heard.status_code == 200 and 'data-channel="voice"' in heard.text
        assert "Transcript (completed)" in heard.text and "it is not in my balance" in heard.text
        assert "Recording: 17 s" in heard.text
        recording = 'href="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0123.mp3" target="_blank"'
        assert recording in heard.text and "kept by the provider" in heard.text


def test_an_agent_signs_in_with_their_api_token_and_rotating_it_ends_the_session(site: CaseSite) -> None:
    agents = AgentStore(site.record)
    token = agents.rotate_token(site.agents["alex"])
    with httpx.Client(base_url=site.url, follow_redirects=False, timeout=20) as client:
        form = client.get("/console/sign-in").text
        assert 'name="token"' in form
        wrong = client.post("/console/sign-in", data={"csrf_token": csrf_of(form), "token": token + "x", "next": ""})
        assert wrong.status_code == 401 and "not the API token" in wrong.text
        signed = client.post("/console/sign-in", data={"csrf_token": csrf_of(form), "token": token, "next": ""})
        assert signed.status_code == 303
        assert 'data-agent="' + site.agents["alex"] + '"' in client.get("/console/queues").text
        agents.rotate_token(site.agents["alex"])  # the token leaked: rotated, its session ends too
        assert client.get("/console/queues").status_code in (302, 303)  # back to sign-in
        form = client.get("/console/sign-in").text
        stale = client.post("/console/sign-in", data={"csrf_token": csrf_of(form), "token": token, "next": ""})
        assert stale.status_code == 401
