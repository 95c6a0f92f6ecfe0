"""What the case view's tests share: the web app on uvicorn over the agents' store in the record (the console's real
identities, since `may_act` reads an agent's queues there), three agents, and customer mail filed through the intake
(`store.accept`, then the workers' jobs, drained in-process)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Engine

from core.agent_settings import Role
from core.envelope import Channel, Envelope, Party
from core.settings import Settings
from core.store import Store
from desk.agents import AgentStore
from record.engine import engine_for
from tests.support.web_server import WebServer
from tests.support.work import drain
from web.app import create_app

PASSWORD = "correct horse battery staple"


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
