"""Write the console's screenshots into docs/screenshots/ from a demo record (the README shows them).

    .venv/bin/python scripts/screenshots.py

Starts its own Redis and PostgreSQL (the tests' helpers: nothing of a running Helpline is touched), fills the record
with two weeks of made-up but plausible cases (a fixed random seed: the same figures every run), serves the web app
on a free port, signs in with headless Chromium (Debian's `chromium`; `fonts-noto-cjk` for the Chinese pages) and
saves each page: the reports page in English and in Chinese, the queues overview (cases waiting in the agents'
inbox in Redis, at ages counted back from now, and a notice), and a Chinese case view (`case-zh.png`: a customer's
HTML mail and her follow-up filed by the real intake and workers, with the agent's answer sent to an SMTP sink).
"""

from __future__ import annotations

import base64
import random
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402
from sqlalchemy import Connection, insert  # noqa: E402

from core.agent_settings import Role  # noqa: E402
from core.envelope import Attachment, Channel, Envelope, Party, Priority  # noqa: E402
from core.inbox import Inbox  # noqa: E402
from core.notices import NoticeBoard  # noqa: E402
from core.settings import Settings, load_settings  # noqa: E402
from core.store import Store  # noqa: E402
from desk.cases import answer, take_next  # noqa: E402
from desk.context import desk_context  # noqa: E402
from record.corrections import write_correction  # noqa: E402
from record.engine import engine_for  # noqa: E402
from record.models import Agent, Contact, Conversation, Message, SlaEvent, SurveyScore  # noqa: E402
from tests.support.console_identities import RedisIdentities  # noqa: E402
from tests.support.postgres import PostgresCluster  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.smtp_sink import SmtpSink  # noqa: E402
from tests.support.web_server import WebServer  # noqa: E402
from tests.support.work import drain  # noqa: E402
from web.app import create_app  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
START = datetime(2026, 3, 2, tzinfo=UTC)
DAYS = 14
PASSWORD = "demo-password"
# Who signs in, where, what says the page is drawn, the file.
REPORTS, QUEUES_PAGE = "reports?from={start}&to={end}", "queues"
SHOTS = (
    ("tom@wallet.example", REPORTS, "body[data-charts-ready=true]", "reports.png"),
    ("mei@wallet.example", REPORTS, "body[data-charts-ready=true]", "reports.zh.png"),
    ("tom@wallet.example", QUEUES_PAGE, "body[data-live-ready=true]", "queues.png"),
)
QUEUES = {  # queue: (categories, first response target in seconds, typical first response in seconds)
    "payments": (["fees", "top_up", "transfer", "payment", "refund"], 3600, 1500),
    "security": (["security"], 900, 420),
    "cards": (["cards"], 3600, 2400),
    "accounts": (["account", "verification"], 7200, 3000),
    "general": (["general", "feedback"], 14400, 5200),
}
CHANNELS = {"email": 45, "sms": 15, "whatsapp": 15, "telegram": 15, "voice": 10}
AGENTS = {"a-mei": "陈美 Mei Chen", "a-tom": "Tom Baker", "a-ana": "Ana Lima", "a-raj": "Raj Patel"}
SUPERVISORS = ("a-mei", "a-tom")
# The inbox the overview shows: per queue, (category, priority, minutes waiting) of each case waiting, and how many
# of the queue's cases agents have taken (each waited 10 minutes before).
WAITING = {
    "payments": [("refund", "high", 70), ("top_up", "high", 48), ("transfer", "high", 20), ("payment", "normal", 200),
                 ("payment", "normal", 35), ("top_up", "normal", 9), ("refund", "low", 300)],
    "security": [("security", "urgent", 12), ("security", "urgent", 4), ("security", "high", 8)],
    "cards": [("cards", "normal", 95), ("cards", "normal", 15)],
    "accounts": [("account", "normal", 250), ("verification", "low", 600)],
    "general": [("general", "low", 1000), ("feedback", "low", 45)],
}  # fmt: skip
TAKEN = {"payments": 4, "security": 1, "cards": 2, "accounts": 1}
CORRECTIONS = {("fees", "refund"): 9, ("top_up", "payment"): 6, ("general", "account"): 5,
               ("transfer", "top_up"): 4, ("account", "verification"): 3, ("feedback", "general"): 2}  # fmt: skip


def demo_record(connection: Connection, rng: random.Random) -> None:
    connection.execute(insert(Contact).values(id="c-demo", created_at=START - timedelta(days=90)))
    for agent_id, name in AGENTS.items():
        role = Role.SUPERVISOR if agent_id in SUPERVISORS else Role.AGENT
        # Mei supervises in Chinese: the case view reads her role and queues from the agents' store.
        languages = ["zh", "en"] if agent_id == "a-mei" else ["en"]
        connection.execute(insert(Agent).values(id=agent_id, name=name, role=role.value, languages=languages,
                                                created_at=START - timedelta(days=90)))  # fmt: skip
    weights = {"payments": 45, "security": 10, "cards": 15, "accounts": 18, "general": 12}
    messages_of: dict[str, list[str]] = {}
    for number in range(420):
        queue = rng.choices(list(weights), list(weights.values()))[0]
        categories, target, typical = QUEUES[queue]
        category = rng.choice(categories)
        channel = rng.choices(list(CHANNELS), list(CHANNELS.values()))[0]
        created = START + timedelta(days=rng.randrange(DAYS), hours=rng.uniform(0, 24))
        first = rng.lognormvariate(0, 0.7) * typical
        resolved = first + rng.lognormvariate(0, 0.9) * 6 * 3600 if rng.random() < 0.8 else None
        case = f"t-{number}"
        connection.execute(
            insert(Conversation).values(
                id=case, reference=f"HL-DEMO{number:05d}", contact_id="c-demo", channel=channel, queue=queue,
                category=category, created_at=created, first_response_at=created + timedelta(seconds=first),
                resolved_at=created + timedelta(seconds=resolved) if resolved else None,
                assigned_agent_id=rng.choice(list(AGENTS)),
            )
        )  # fmt: skip
        for part in range(rng.choice((1, 1, 1, 2, 3))):
            message_id = f"m-{number}-{part}"
            messages_of.setdefault(category, []).append(message_id)
            at = created + timedelta(minutes=47 * part)
            connection.execute(
                insert(Message).values(
                    id=message_id, channel=channel, provider_id=message_id, conversation_id=case,
                    contact_id="c-demo", state="routed", sender="demo@example.com", received_at=at, recorded_at=at,
                    decision={"queue": queue, "category": category, "priority": "normal"},
                )
            )  # fmt: skip
        kind = "first_response_met" if first <= target else "first_response_breached"
        events = [(kind, created + timedelta(seconds=first))]
        if resolved:
            kind = "resolution_met" if resolved <= 24 * 3600 else "resolution_breached"
            events.append((kind, created + timedelta(seconds=resolved)))
            if rng.random() < 0.45:
                score = rng.choices((5, 4, 3, 2, 1), (50, 25, 10, 8, 7))[0]
                at = created + timedelta(seconds=resolved + 3600)
                connection.execute(insert(SurveyScore).values(conversation_id=case, score=score, at=at))
        for kind, at in events:
            connection.execute(insert(SlaEvent).values(conversation_id=case, kind=kind, queue=queue, at=at))
    for (old, new), times in CORRECTIONS.items():
        queue = next(q for q, (categories, _, _) in QUEUES.items() if old in categories)
        for message_id in rng.sample(messages_of[old], times):
            write_correction(
                connection, message_id=message_id, from_category=old, to_category=new, queue=queue,
                agent=rng.choice(list(AGENTS)), reason="demo", at=START + timedelta(days=rng.randrange(DAYS), hours=12),
            )  # fmt: skip


def demo_inbox(store: Store, now: datetime) -> None:
    """The cases waiting and taken right now, and a notice customers are told."""
    inbox = Inbox(store)
    number = 0

    def file(queue: str, category: str, priority: str, minutes: float) -> str:
        nonlocal number
        number += 1
        case = f"t-live-{number}"
        since = now - timedelta(minutes=minutes)
        inbox.file(case, f"m-live-{number}", queue, Priority(priority), since=since, due=None, now=since,
                   reopen_seconds=0, category=category)  # fmt: skip
        return case

    for queue, taken in TAKEN.items():
        for _ in range(taken):
            file(queue, WAITING[queue][0][0], "normal", 10)
            inbox.take([queue], "a-ana", capacity=100, at=now)
    for queue, cases in WAITING.items():
        for category, priority, minutes in cases:
            file(queue, category, priority, minutes)
    NoticeBoard(store).add(
        now + timedelta(hours=4),
        "Top-ups by bank card are delayed by up to 2 hours while our bank partner performs maintenance.",
        "银行卡充值因合作银行系统维护，到账可能延迟最多 2 小时。",
        now=now,
    )


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
CASE_HTML = (
    "<p>您好，</p><p>我昨天（3 月 1 日）用借记卡给钱包<b>充值 500 元</b>，银行已经扣款，但是钱包余额一直没有变化。</p>"
    "<p>银行流水号：<b>TX20260301-8842</b>。截图见附件。</p>"
    '<p><img src="https://cdn.mail.example/signature-banner.png" alt="签名横幅"></p><p>谢谢！<br>林晓</p>'
)


def demo_case(settings: Settings, store: Store) -> str:
    """A Chinese customer's top-up case through the intake and the workers: her HTML mail with a screenshot
    attached, her follow-up, and Mei's answer (sent). Returns the case id."""
    first = Envelope(
        channel=Channel.EMAIL, provider_id="<lin-demo-1@example.cn>", message_id="<lin-demo-1@example.cn>",
        sender=Party(address="lin.xiao@example.cn", name="林晓"), recipient=Party(address="support@wallet.example"),
        subject="充值 500 元没到账", language="zh", extras={"html": CASE_HTML},
        text="您好，我昨天（3 月 1 日）用借记卡给钱包充值 500 元，银行已经扣款，但是钱包余额一直没有变化。\n"
             "银行流水号：TX20260301-8842。截图见附件。\n谢谢！林晓",
        attachments=[Attachment(filename="银行扣款截图.png", content_type="image/png", size=len(PNG),
                                content_b64=base64.b64encode(PNG).decode())],
    )  # fmt: skip
    store.accept(first, b"demo")
    drain(settings)
    ctx = desk_context(settings, store)
    taken = take_next(ctx, Inbox(store).queues(), "a-mei")
    assert taken is not None
    answer(ctx, taken.case.id, "林晓您好，已收到您的流水号，我们正在与银行核对，预计 2 小时内给您答复。", "a-mei")
    drain(settings)
    follow_up = first.model_copy(update={
        "provider_id": "<lin-demo-2@example.cn>", "message_id": "<lin-demo-2@example.cn>",
        "in_reply_to": "<lin-demo-1@example.cn>", "extras": {}, "attachments": [],
        "subject": "Re: 充值 500 元没到账", "text": "好的，谢谢。刚刚又看了一下，余额还是 0。",
        "received_at": datetime.now(UTC),
    })  # fmt: skip
    store.accept(follow_up, b"demo")
    drain(settings)
    return taken.case.id


def shoot(page: Page, url: str, email: str, ready: str, path: Path) -> None:
    page.goto(url)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector(ready)
    page.wait_for_load_state("load")  # a mail's frame too, with its stylesheet
    page.wait_for_timeout(500)  # and its layout at the frame's final width
    page.screenshot(path=str(path), full_page=True)
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with RedisServer() as redis_server:
        sink = SmtpSink().start()  # the demo case's acknowledgement and answer go here
        cluster = PostgresCluster().start()
        try:
            url = cluster.new_database()
            record = engine_for(url)
            with record.begin() as connection:
                demo_record(connection, random.Random(12))
            record.dispose()
            base = load_settings(ROOT / "settings.toml")
            settings = base.model_copy(
                update={
                    "hours": {},  # every queue open: the overview's SLA figures do not depend on the hour it is shot
                    "redis": base.redis.model_copy(update={"url": redis_server.url}),
                    "database": base.database.model_copy(update={"url": url}),
                    "web": base.web.model_copy(update={"console_secret_file": cluster.folder / "console_secret"}),
                    "attachments": base.attachments.model_copy(update={"dir": cluster.folder / "attachments"}),
                    "email": base.email.model_copy(
                        update={"outbound": base.email.outbound.model_copy(update={"host": "127.0.0.1",
                                                                                    "port": sink.port})}
                    ),
                }
            )  # fmt: skip
            case = demo_case(settings, Store(redis_server.client()))  # first: Mei's "next" must take this case
            identities = RedisIdentities(redis_server.client())
            identities.add("a-mei", AGENTS["a-mei"], "mei@wallet.example", PASSWORD, Role.SUPERVISOR, "zh")
            identities.add("a-tom", AGENTS["a-tom"], "tom@wallet.example", PASSWORD, Role.SUPERVISOR, "en")
            store = Store(redis_server.client())
            demo_inbox(store, datetime.now(UTC))
            server = WebServer(create_app(settings, store, identities=identities)).start()
            end = START + timedelta(days=DAYS - 1)
            try:
                with sync_playwright() as p:
                    chromium = shutil.which("chromium")
                    if chromium is None:
                        raise SystemExit("chromium is not installed: scripts/install-system-deps.sh")
                    browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                    for email, path, ready, name in SHOTS:
                        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
                        url = f"{server.url}/console/{path.format(start=START.date(), end=end.date())}"
                        shoot(context.new_page(), url, email, ready, OUT / name)
                        context.close()
                    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
                    case_page = context.new_page()
                    shoot(case_page, f"{server.url}/console/cases/{case}", "mei@wallet.example", "#case-live",
                          OUT / "case-zh.png")  # fmt: skip
                    context.close()
                    browser.close()
            finally:
                server.stop()
        finally:
            cluster.stop()
            sink.stop()


if __name__ == "__main__":
    main()
