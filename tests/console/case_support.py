"""What the case view's tests share: the web app on uvicorn over the agents' store in the record (the console's real
identities, since `may_act` reads an agent's queues there), three agents, and customer mail filed through the intake
(`store.accept`, then the workers' jobs, drained in-process) or mailed to Helpline's own SMTP server; for the browser
tests, a Chinese HTML mail carrying a script and a remote image, and a browser context signed in as one agent."""

from __future__ import annotations

import contextlib
import re
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine

from core.agent_settings import Role
from core.envelope import Channel, Envelope, Party
from core.settings import Settings
from core.store import Store
from desk.agents import AgentStore
from ingest.email.smtp_server import controller
from record.engine import engine_for
from tests.support.ports import free_port
from tests.support.web_server import WebServer
from tests.support.work import drain
from web.app import create_app

PASSWORD = "correct horse battery staple"
TITLE_SCRIPT = "<script>document.title = 'pwned'; window.pwned = true;</script>"
HTML = (
    "<html><body><p>您好，我昨天用借记卡<b>充值</b>了 500 元，但是一直没到账。</p>"
    f"{TITLE_SCRIPT}"
    '<img src="http://tracker.invalid/open.gif" onerror="window.pwned = true; document.title = \'pwned\'">'
    "<p>订单号 TX20260302</p></body></html>"
)


@dataclass
class CaseSite:
    url: str
    settings: Settings
    store: Store
    record: Engine
    agents: dict[str, str]  # mei, alex, sofia -> agent id

    def console(self, path: str) -> str:
        return f"{self.url}/console{path}"


@contextlib.contextmanager
def case_site(settings: Settings, store: Store, tmp_path: Path, *, queue: str, other_queue: str) -> Iterator[CaseSite]:
    """Mei (Chinese UI) works `queue`, Alex `other_queue`; Sofia supervises."""
    configured = settings.model_copy(
        update={
            "web": settings.web.model_copy(update={"console_secret_file": tmp_path / "console_secret"}),
            "replies": settings.replies.model_copy(update={"survey_delay_seconds": 1}),
        }
    )
    assert configured.database.url is not None
    record = engine_for(configured.database.url)
    agents = AgentStore(record)
    ids = {}
    for who, name, role, queues, languages in (
        ("mei", "陈美", Role.AGENT, [queue], ["zh", "en"]),
        ("alex", "Alex Agent", Role.AGENT, [other_queue], ["en"]),
        ("sofia", "Sofia Supervisor", Role.SUPERVISOR, [], ["en"]),
    ):
        added = agents.add(name, f"{who}@desk.example", queues=queues, role=role, languages=languages)
        agents.set_password(added.id, PASSWORD)
        ids[who] = added.id
    server = WebServer(create_app(configured, store, record)).start()
    try:
        yield CaseSite(server.url, configured, store, record, ids)
    finally:
        server.stop()
        record.dispose()


def customer_mail(
    provider_id: str, text: str, *, html: str | None = None, sender: str = "lin@example.cn", language: str = "zh"
) -> Envelope:
    extras = {"html": html} if html is not None else {}
    return Envelope(
        channel=Channel.EMAIL, provider_id=provider_id, sender=Party(address=sender, name="林晓"),
        recipient=Party(address="support@wallet.example"), subject="充值没到账", text=text, language=language,
        message_id=provider_id, extras=extras,
    )  # fmt: skip


def file_mail(settings: Settings, store: Store, envelope: Envelope) -> str:
    """The mail accepted and routed (every queued job run); its case id."""
    message_id = store.accept(envelope, b"raw").message_id
    drain(settings, include_scheduled=True)
    message = store.get_message(message_id)
    assert message is not None and message.conversation_id is not None and message.decision is not None
    return message.conversation_id


@contextlib.contextmanager
def signed_in(site: CaseSite, who: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, follow_redirects=False, timeout=20) as client:
        token = csrf_of(client.get("/console/sign-in").text)
        answer = client.post("/console/sign-in", data={"csrf_token": token, "email": f"{who}@desk.example",
                                                        "password": PASSWORD, "next": ""})  # fmt: skip
        assert answer.status_code == 303, answer.text
        yield client


def csrf_of(page: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    return token.group(1)


@contextlib.contextmanager
def smtp_intake(site: CaseSite) -> Iterator[int]:
    """Helpline's own SMTP server (the intake), on a free port."""
    port = free_port()
    server = controller(site.settings, site.store, port=port)
    server.start()
    try:
        yield port
    finally:
        server.stop()


def chinese_html_mail(message_id: str) -> bytes:
    """A multipart/alternative mail as a Chinese client sends it: GB18030 text and HTML parts."""
    message = EmailMessage()
    message["From"] = "林晓 <lin@example.cn>"
    message["To"] = "support@wallet.example"
    message["Subject"] = "充值没到账"
    message["Message-ID"] = message_id
    message.set_content("您好，我昨天用借记卡充值了 500 元，但是一直没到账。订单号 TX20260302", charset="gb18030")
    message.add_alternative(HTML, subtype="html", charset="gb18030")
    return message.as_bytes()


def mailed_case(site: CaseSite, port: int, message_id: str) -> str:
    """The Chinese HTML mail sent over SMTP to the intake and routed (the workers' jobs run); its case id."""
    with smtplib.SMTP("127.0.0.1", port) as client:
        assert client.sendmail("lin@example.cn", ["support@wallet.example"], chinese_html_mail(message_id)) == {}
    drain(site.settings)
    messages = [site.store.get_message(m) for m in site.store.message_ids()]
    found = [(m.envelope.message_id, m.conversation_id, m.state) for m in messages if m is not None]
    cases = [c for mid, c, _ in found if mid in (message_id, message_id.strip("<>"))]
    assert len(cases) == 1, found
    case = cases[0]
    assert case is not None
    return case


def signed_in_page(browser: Browser, site: CaseSite, who: str, path: str) -> Page:
    """A fresh context (its own cookies) sent to sign in on the way to `path`, signed in as `who`, back at `path`."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(site.console(path))
    page.fill("input[name=email]", f"{who}@desk.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_url(f"**/console{path}")
    return page


def open_case(browser: Browser, site: CaseSite, who: str, case: str) -> Page:
    """`who` signed in with the case open, its live stream on the page."""
    page = signed_in_page(browser, site, who, f"/cases/{case}")
    page.wait_for_selector("#case-live")
    return page
