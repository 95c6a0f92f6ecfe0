"""An incident end to end, across email, SMS and Telegram at once: three customers write about one outage — by mail
through Helpline's own SMTP server, by SMS through the signed Twilio webhook, on Telegram through its webhook — and a
supervisor, with `helpline incident`, opens an incident with a notice, links the cases (one by hand, two by a
search), and answers once. Each customer gets the answer in their language on their channel (at the SMTP sink, the
fake Twilio Messages API and the fake Bot API), every case is resolved, and each gets its survey."""

from __future__ import annotations

import json
import re
import smtplib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from core.agent_settings import Role
from core.envelope import Channel
from core.inbox import Inbox, Status
from core.notices import NoticeBoard
from core.settings import Settings
from core.store import Store
from core.surveys import Surveys
from desk.agents import AgentStore
from helpline.cli import app
from ingest.email.smtp_server import controller
from record.engine import engine_for
from tests.conftest import ROOT
from tests.mail_factory import raw_email
from tests.support.fake_telegram import SECRET, FakeTelegram, settings_for, update
from tests.support.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, post_webhook, sms_form
from tests.support.ports import free_port
from tests.support.smtp_sink import SmtpSink
from tests.support.web_server import WebServer
from tests.support.work import drain
from web.app import create_app

CUSTOMER_PHONE = "+8613800138000"
TELEGRAM_USER = 2001
EN = "Top-ups work again and yours has been credited. Sorry for the wait."
ZH = "充值已恢复正常，您的款项已到账。抱歉让您久等。"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


@pytest.fixture
def every_channel(settings: Settings, twilio: FakeTwilio, telegram: FakeTelegram) -> Settings:
    section = settings.twilio.model_copy(
        update={"account_sid": ACCOUNT_SID, "auth_token": SecretStr(AUTH_TOKEN), "api_base_url": twilio.url}
    )
    return settings_for(settings.model_copy(update={"twilio": section}), telegram)


@pytest.fixture
def web(every_channel: Settings, store: Store) -> Iterator[WebServer]:
    server = WebServer(create_app(every_channel, store)).start()
    yield server
    server.stop()


@pytest.fixture
def smtp_port(every_channel: Settings, store: Store) -> Iterator[int]:
    port = free_port()
    server = controller(every_channel, store, port=port)
    server.start()
    yield port
    server.stop()


def helpline(settings: Settings, *args: str, exit_code: int = 0) -> str:
    """Run `helpline …` as a supervisor at a terminal would, against the test's Redis and record."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HELPLINE_REDIS__URL", str(settings.redis.url))
        env.setenv("HELPLINE_DATABASE__URL", str(settings.database.url))
        ran = CliRunner().invoke(app, [*args, "--settings", str(Path(ROOT / "settings.toml"))])
    assert ran.exit_code == exit_code, ran.output
    return ran.output


def case_of(store: Store, channel: Channel, provider_id: str) -> str:
    message_id = store.find_duplicate(channel, provider_id)
    message = store.get_message(message_id) if message_id else None
    assert message is not None and message.conversation_id is not None
    return message.conversation_id


def test_an_incident_answered_across_email_sms_and_telegram_at_once(
    every_channel: Settings,
    store: Store,
    web: WebServer,
    smtp_port: int,
    smtp_sink: SmtpSink,
    twilio: FakeTwilio,
    telegram: FakeTelegram,
) -> None:
    settings = every_channel
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        raw = raw_email("My top-up failed and the money is gone.", message_id="<outage-1@example.com>")
        client.sendmail("alice@example.com", ["support@wallet.example"], raw)
    sms = sms_form("我的充值失败了，钱被扣了", from_=CUSTOMER_PHONE)
    assert post_webhook(web.url, "/twilio/sms", sms).status_code == 200
    chat = update(7, "充值失败了，余额没有变", user_id=TELEGRAM_USER, first_name="小明", language_code="zh")
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert httpx.post(f"{web.url}/telegram/webhook", content=json.dumps(chat), headers=headers).status_code == 200
    drain(settings)
    assert len(smtp_sink.wait_for(1)) == 1 and len(twilio.messages) == 1 and len(telegram.calls("sendMessage")) == 1
    by_mail = case_of(store, Channel.EMAIL, "outage-1@example.com")
    by_sms = case_of(store, Channel.SMS, sms["MessageSid"])
    by_telegram = case_of(store, Channel.TELEGRAM, "7")

    opened = helpline(settings, "incident", "open", "Top-ups failing", "--notice", "Top-ups are delayed.",
                      "--notice-zh", "充值延迟。")  # fmt: skip
    match = re.match(r"opened (i-\S+) with notice (n-[^:]+):", opened)
    assert match is not None, opened
    incident = match.group(1)
    assert [n.id for n in NoticeBoard(store).list()] == [match.group(2)]
    assert "1 linked" in helpline(settings, "incident", "link", incident, "alice@example.com")
    assert f"{by_mail} unlinked" in helpline(settings, "incident", "unlink", incident, "<outage-1@example.com>")
    assert "1 linked, 0 linked before" in helpline(settings, "incident", "link", incident, "alice@example.com")
    engine = engine_for(str(settings.database.url))
    AgentStore(engine).add("Ann", "ann@desk.example", queues=["payments"], role=Role.AGENT)
    engine.dispose()
    refused = helpline(settings, "incident", "answer", incident, "-t", "x", "--as", "ann@desk.example", exit_code=2)
    assert "not an active supervisor" in refused
    assert "2 linked" in helpline(settings, "incident", "link", incident, "--query", "充值失败")
    shown = helpline(settings, "incident", "show", incident)
    header, *linked = shown.splitlines()
    assert "3 cases" in header and [line.split()[1:3] for line in linked] == [
        ["open", "email"], ["open", "sms"], ["open", "telegram"]
    ]  # fmt: skip
    assert incident in helpline(settings, "incident", "list", "--status", "open")

    answered = helpline(settings, "incident", "answer", incident, "--text", EN, "--zh", ZH)
    assert answered.count("resolved by") == 3 and "3 of 3 cases answered and resolved" in answered
    assert "by email in en" in answered and "by sms in zh" in answered and "by telegram in zh" in answered
    assert NoticeBoard(store).list() == []
    drain(settings)

    mails = smtp_sink.wait_for(2)
    assert mails[1].rcpt_tos == ["alice@example.com"] and EN in mails[1].message.get_content()
    assert mails[1].message["In-Reply-To"] == "<outage-1@example.com>" and "[HL-" in mails[1].message["Subject"]
    [sms_answer] = [m for m in twilio.messages[1:] if ZH in m.form["Body"]]
    assert sms_answer.form["To"] == CUSTOMER_PHONE
    [telegram_answer] = [c for c in telegram.calls("sendMessage")[1:] if ZH in c.params["text"]]
    assert telegram_answer.params["chat_id"] == str(TELEGRAM_USER)
    for case in (by_mail, by_sms, by_telegram):
        state = Inbox(store).case(case)
        assert state is not None and state.status is Status.RESOLVED and state.times.resolved_by == "supervisor"

    drain(settings, include_scheduled=True)  # the surveys' delay passes
    assert all(Surveys(store).sent(case) is not None for case in (by_mail, by_sms, by_telegram))
    assert str(smtp_sink.wait_for(3)[2].message["Subject"]).startswith("How did we do?")
    assert len(twilio.messages) == 3 and len(telegram.calls("sendMessage")) == 3  # ack, answer, survey each
    assert "resolved" in helpline(settings, "incident", "show", incident).splitlines()[0]
