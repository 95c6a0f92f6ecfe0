"""Shared bench helpers: settings pointed at a private redis-server, rates, ratios and sample mail.

The benchmarks never touch the shared Redis on 6379: each starts its own server on a free port in a temporary
directory (tests/support/redis_server.py, `fsync_always` for the durability `helpline run` uses) and stops it by
its PID.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from redis import Redis

from core.settings import Settings, load_settings
from core.store import Store
from tests.support.postgres import PostgresCluster
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink
from workers import context

ROOT = Path(__file__).resolve().parent.parent


def bench_settings(redis_url: str, *, smtp_port: int | None = None, database_url: str | None = None) -> Settings:
    """The project's settings.toml, with Redis (and optionally the outbound SMTP relay and the record's PostgreSQL)
    pointed at local servers."""
    base = load_settings(ROOT / "settings.toml")
    update: dict[str, object] = {"redis": base.redis.model_copy(update={"url": redis_url})}
    if database_url is not None:
        update["database"] = base.database.model_copy(update={"url": database_url})
    if smtp_port is not None:
        outbound = base.email.outbound.model_copy(update={"host": "127.0.0.1", "port": smtp_port})
        update["email"] = base.email.model_copy(update={"outbound": outbound})
    return base.model_copy(update=update)


@dataclass
class PipelineDesk:
    """What the in-process pipeline benchmarks run against: settings, the store, and the sink replies reach."""

    settings: Settings
    redis: Redis
    store: Store
    sink: SmtpSink


@contextmanager
def pipeline_desk(*, durable_record: bool, fsync_always: bool = False) -> Iterator[PipelineDesk]:
    """A private redis-server, PostgreSQL cluster and SMTP sink, with the workers' context installed in this
    process (forked RQ children inherit it); everything is stopped on the way out."""
    with RedisServer(fsync_always=fsync_always) as server:
        sink = SmtpSink().start()
        cluster = PostgresCluster(durable=durable_record).start()
        redis = Redis.from_url(server.url)
        try:
            settings = bench_settings(server.url, smtp_port=sink.port, database_url=cluster.new_database())
            store = Store(redis)
            context.install(context.context_for(settings, store))
            yield PipelineDesk(settings, redis, store, sink)
        finally:
            redis.close()
            sink.stop()
            cluster.stop()


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def filesystem_of(path: Path) -> str:
    """The mount type under `path` (fsync cost depends on it), from /proc/mounts; "?" where that is unavailable."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "?"
    resolved = str(path.resolve())
    best = max(
        (m for m in mounts if resolved == m[0] or resolved.startswith(m[0].rstrip("/") + "/")),
        key=lambda m: len(m[0]),
        default=None,
    )
    return best[1] if best else "?"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}×"


# ---- sample mail ---------------------------------------------------------------------------------------------------

SUPPORT_ADDRESS = "support@wallet.example"

_EN_BODY = (
    "Hello,\n\nI tried to top up 200 SGD to my wallet this morning with my Visa card ending 4421. The app said the\n"
    "payment failed, but the money has left my bank account and the balance in the wallet did not change. I tried\n"
    "again an hour later and the same thing happened, so now I have been charged twice. Could you please check the\n"
    "two payments and either add the money to my wallet or refund it to the card?\n\n"
    "The references the app showed me were TU-88312 and TU-88377. I am using version 5.2.1 on an iPhone 13.\n\n"
    "Thank you,\nAlice\n\n"
)
_EN_QUOTE = (
    "On Mon, 3 Jun 2024 at 09:12, Wallet Support <support@wallet.example> wrote:\n"
    "> Thank you for contacting Wallet support. We have received your message and an agent will reply soon.\n"
    "> Your reference is HL-2406-0042. Please keep it in the subject line if you write again.\n"
    "> Opening hours: Monday to Friday 09:00-18:00, Saturday 10:00-14:00 (Singapore time).\n"
)
_ZH_BODY = (
    "您好：\n\n今天上午我用尾号4421的银行卡给钱包充值200元，应用显示支付失败，但是银行卡里的钱已经被扣了，钱包余额\n"
    "没有变化。一个小时后我又试了一次，结果还是一样，现在被扣了两次钱。麻烦帮我查一下这两笔付款，把钱充到钱包里，\n"
    "或者退回到银行卡。\n\n应用显示的流水号是 TU-88312 和 TU-88377，我用的是安卓手机，版本5.2.1。\n\n"
    "谢谢！\n王小明\n\n"
)
_ZH_QUOTE = (
    "------------------ 原始邮件 ------------------\n"
    "发件人: Wallet Support <support@wallet.example>\n"
    "> 感谢您联系钱包客服，我们已收到您的来信，客服人员会尽快回复。您的工单号是 HL-2406-0042。\n"
    "> 服务时间：周一至周五 09:00-18:00，周六 10:00-14:00（北京时间）。\n"
)
# A tiny but real PNG (1x1, grey), as a screenshot stand-in; repeated so the part is a few hundred bytes.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
)


def sample_emails(count: int, *, tag: str = "bench") -> list[bytes]:
    """`count` realistic support mails of about 2 KB, cycling through: English; Chinese in GB2312 (as Foxmail
    writes it); Chinese in UTF-8 with an HTML alternative; English with a small screenshot attached.
    Each has its own sender, Message-ID and wording (a customer's own words in its subject and first line), so none
    is a duplicate, each contact is under the auto-reply cap, and none meets the repeated-text cap
    (workers/reply_caps.py folds digits, so a number alone would not make two texts differ)."""
    return [_sample_email(i, tag) for i in range(count)]


_WORDS = (
    "amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris", "juniper", "kestrel", "lagoon",
    "maple", "nectar", "orchid", "pebble", "quartz", "raven", "sierra", "tundra", "umber", "violet", "willow",
    "xenon", "yarrow", "zephyr",
)  # fmt: skip


def _words_for(i: int) -> str:
    """Three words that differ for every `i` below 26**3, in letters: the customer's own wording."""
    n = len(_WORDS)
    return f"{_WORDS[i % n]} {_WORDS[i // n % n]} {_WORDS[i // n // n % n]}"


def _sample_email(i: int, tag: str) -> bytes:
    from email.mime.text import MIMEText
    from email.utils import format_datetime, make_msgid

    from core.records import utcnow

    kind = i % 4
    sender = f"customer{i}@example.com"
    words = _words_for(i)  # in the subject and the first line: no two mails share a text
    message: MIMEText | EmailMessage
    if kind == 1:
        body = f"（{words}）" + _ZH_BODY + _ZH_QUOTE * 3
        message = MIMEText(body, "plain", "gb2312")  # base64, as Chinese mailers send it
        message["Subject"] = _gb2312_word(f"充值失败，钱被扣了两次 {words} #{i}")
        message["From"] = f"{_gb2312_word('王小明')} <{sender}>"
        message["X-Mailer"] = "Foxmail 7.2.25.228[cn]"
    else:
        message = EmailMessage()
        message["From"] = f"Alice Tan <{sender}>"
        message["Subject"] = f"Top-up failed ({words}) #{i}" if kind != 2 else f"充值失败 {words} #{i}"
        if kind == 2:
            body = f"（{words}）" + _ZH_BODY
            message.set_content(body + _ZH_QUOTE * 2)
            message.add_alternative(f"<html><body><p>{body.replace(chr(10), '<br>')}</p></body></html>", "html")
        else:
            message.set_content(f"Ref words: {words}.\n" + _EN_BODY + _EN_QUOTE * 3)
        if kind == 3:
            message.add_attachment(_PNG * 8, maintype="image", subtype="png", filename="screenshot.png")
    message["To"] = SUPPORT_ADDRESS
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(idstring=f"{tag}{i}", domain="example.com")
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))  # as on the wire: CRLF line ends


def _gb2312_word(text: str) -> str:
    # Written by hand: email.header.Header labels it with Python's codec name (eucgb2312_cn), no mailer does.
    return f"=?gb2312?b?{base64.b64encode(text.encode('gb2312')).decode('ascii')}?="
