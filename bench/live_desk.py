"""A whole desk of real processes for the latency and memory benchmarks, and an open-loop mixed load to offer it.

`LiveDesk` starts a private redis-server (`appendfsync always`, as `helpline run`'s embedded one), a private
PostgreSQL cluster with fsync on (the record), the SMTP relay sink, the Twilio and Telegram fakes, and the processes a
Procfile runs — `helpline serve smtp|web|scheduler` and N × `helpline serve worker` — on loopback, each stopped by
its PID. `offer` sends email (SMTP), SMS (a signed Twilio webhook) and Telegram (a webhook with its secret) in turn
at a fixed rate, each from a new customer, and reads when each acknowledgement reached its fake: the fakes stamp
what they receive (`received_at`), in this same process and on the same monotonic clock as the send times.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import smtplib
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
from redis import Redis

from bench.support import ROOT, SUPPORT_ADDRESS
from tests.mail_factory import raw_email
from tests.support import fake_telegram, fake_twilio
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_twilio import FakeTwilio
from tests.support.ports import free_port, wait_for_greeting
from tests.support.postgres import PostgresCluster
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink

CHANNELS = ("email", "sms", "telegram")
SMS_TO = "+15017122661"  # the desk's number customers text
TEXTS = (
    ("Top-up failed", "My top-up failed but the money left my bank account."),
    ("Card declined", "My card payment was declined twice at the supermarket, what is wrong?"),
    ("Withdrawal pending", "My withdrawal has been pending since yesterday morning."),
    ("Change phone number", "How do I change the phone number on my wallet account?"),
    ("Refund not received", "The shop says it refunded me last week but I see nothing in the wallet."),
    ("Locked out", "I cannot log in any more, the app says my account is locked."),
    ("充值失败", "充值失败了，但是银行卡的钱已经扣了。"),
)


def letters(n: int) -> str:
    """n written in letters (a, b, …, ba, bb, …): distinct customers whose addresses differ in more than digits, which
    the auto-reply cap on repeated text would fold into one sender shape (workers/reply_caps.py)."""
    word = ""
    while True:
        n, digit = divmod(n, 26)
        word = string.ascii_lowercase[digit] + word
        if n == 0:
            return word


@dataclass
class Sent:
    channel: str
    key: str  # what the acknowledgement is found by: the address, the number, the chat id
    at: float  # monotonic, just before the client began to send
    accepted: bool = True
    error: str = ""


@dataclass
class StepResult:
    rate: float
    seconds: float
    sent: list[Sent]
    latencies: dict[str, list[float]] = field(default_factory=dict)  # channel -> seconds, acknowledged ones
    refused: int = 0
    missing: int = 0  # accepted, but no acknowledgement within the wait

    @property
    def all_latencies(self) -> list[float]:
        return sorted(x for values in self.latencies.values() for x in values)

    @property
    def offered_rate(self) -> float:
        if len(self.sent) < 2:
            return 0.0
        span = max(s.at for s in self.sent) - min(s.at for s in self.sent)
        return (len(self.sent) - 1) / span if span > 0 else 0.0


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted `values` (0 when empty)."""
    if not values:
        return 0.0
    rank = max(0, min(len(values) - 1, math.ceil(fraction * len(values)) - 1))
    return values[rank]


class LiveDesk:
    def __init__(self, workers: int) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="hl-bench-desk-"))
        self.worker_count = workers
        self.redis = RedisServer(self.workdir / "redis", fsync_always=True)
        self.postgres = PostgresCluster(durable=True)
        self.sink = SmtpSink()
        self.twilio = FakeTwilio()
        self.telegram = FakeTelegram()
        self.smtp_port = free_port()
        self.web_port = free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.database_url = ""
        self._customers = 0
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=30)

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> LiveDesk:
        self.redis.start()
        self.postgres.start()
        self.database_url = self.postgres.new_database()
        self.sink.start()
        self.twilio.start()
        self.telegram.start()
        env = {
            **os.environ,
            "HELPLINE_SETTINGS": str(ROOT / "settings.toml"),
            "HELPLINE_REDIS__URL": self.redis.url,
            "HELPLINE_DATABASE__URL": self.database_url,
            "HELPLINE_EMAIL__INBOUND__PORT": str(self.smtp_port),
            "HELPLINE_EMAIL__OUTBOUND__HOST": "127.0.0.1",
            "HELPLINE_EMAIL__OUTBOUND__PORT": str(self.sink.port),
            "HELPLINE_WEB__PORT": str(self.web_port),
            "HELPLINE_WEB__PUBLIC_URL": self.web_url,
            "HELPLINE_TWILIO__ACCOUNT_SID": fake_twilio.ACCOUNT_SID,
            "HELPLINE_TWILIO__AUTH_TOKEN": fake_twilio.AUTH_TOKEN,
            "HELPLINE_TWILIO__API_BASE_URL": self.twilio.url,
            "HELPLINE_TELEGRAM__TOKEN": self.telegram.token,
            "HELPLINE_TELEGRAM__WEBHOOK_SECRET": fake_telegram.SECRET,
            "HELPLINE_TELEGRAM__API_BASE_URL": self.telegram.url,
        }
        self._env = env
        for name in ("smtp", "web", "scheduler"):
            self._spawn(name, name)
        for number in range(self.worker_count):
            self._spawn(f"worker-{number}", "worker")
        wait_for_greeting(self.smtp_port, b"220", timeout=60)
        deadline = time.monotonic() + 60
        while True:
            try:
                if self._http.get(self.web_url + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web process did not answer; see {self.workdir}")
            time.sleep(0.2)
        self._wait_for_workers()
        return self

    def _spawn(self, label: str, process: str) -> None:
        log = (self.workdir / f"{label}.log").open("wb")
        self.processes[label] = subprocess.Popen(
            [sys.executable, "-m", "helpline", "serve", process], cwd=ROOT, env=self._env,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def _wait_for_workers(self) -> None:
        from rq import Worker

        redis = self.redis_client()
        deadline = time.monotonic() + 60
        try:
            while len(Worker.all(connection=redis)) < self.worker_count:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the workers did not register; see {self.workdir}")
                time.sleep(0.2)
        finally:
            redis.close()

    def redis_client(self) -> Redis:
        return self.redis.client()

    def stop(self) -> None:
        self._http.close()
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for stop in (self.sink.stop, self.telegram.stop, self.redis.stop, self.postgres.stop):
            try:
                stop()
            except Exception as exc:  # keep stopping the others
                print(f"stopping: {exc}", file=sys.stderr)
        if self.twilio._server is not None:
            self.twilio._server.shutdown()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- the load ----------------------------------------------------------------------------------------------

    def _next_customer(self) -> int:
        with self._lock:
            self._customers += 1
            return self._customers

    def send_one(self, channel: str) -> Sent:
        n = self._next_customer()
        subject, text = TEXTS[n % len(TEXTS)]
        if channel == "email":
            address = f"cust-{letters(n)}@example.com"
            raw = raw_email(f"{text}\n\n{letters(n)}", sender=address, subject=subject,
                            message_id=f"<bench-{letters(n)}@example.com>")  # fmt: skip
            sent = Sent(channel, address, time.monotonic())
            try:
                with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as client:
                    client.sendmail(address, [SUPPORT_ADDRESS], raw)
            except (smtplib.SMTPException, OSError) as exc:
                sent.accepted, sent.error = False, str(exc)
            return sent
        if channel == "sms":
            number = f"+1415{n:07d}"
            form = fake_twilio.sms_form(f"{text} ({letters(n)})", from_=number, to=SMS_TO)
            url = self.web_url + "/twilio/sms"
            headers = {"X-Twilio-Signature": fake_twilio.sign(url, form),
                       "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
            sent = Sent(channel, number, time.monotonic())
            try:
                answer = self._http.post(url, content=urlencode(form), headers=headers)
                if answer.status_code != 200:
                    sent.accepted, sent.error = False, f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                sent.accepted, sent.error = False, str(exc)
            return sent
        chat = 500_000 + n
        update = fake_telegram.update(n, f"{text} ({letters(n)})", user_id=chat)
        headers = {"X-Telegram-Bot-Api-Secret-Token": fake_telegram.SECRET, "Content-Type": "application/json"}
        sent = Sent(channel, str(chat), time.monotonic())
        try:
            answer = self._http.post(self.web_url + "/telegram/webhook", content=json.dumps(update), headers=headers)
            if answer.status_code != 200:
                sent.accepted, sent.error = False, f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            sent.accepted, sent.error = False, str(exc)
        return sent

    def offer(self, rate: float, seconds: float, *, wait: float = 60.0, clients: int = 24) -> StepResult:
        """Send `rate` messages a second for `seconds`, the channels in turn, on a fixed schedule (open loop: a slow
        answer does not slow the offered load, up to `clients` sends at once); then wait up to `wait` seconds for the
        acknowledgements."""
        count = max(1, int(rate * seconds))
        start = time.monotonic() + 0.2
        with ThreadPoolExecutor(max_workers=clients) as pool:
            futures = []
            for i in range(count):
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(self.send_one, CHANNELS[i % len(CHANNELS)]))
            sent = [f.result() for f in futures]
        result = StepResult(rate, seconds, sent)
        deadline = time.monotonic() + wait
        while True:
            acks = self.ack_times()
            missing = [s for s in sent if s.accepted and (s.channel, s.key) not in acks]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        for s in sent:
            if not s.accepted:
                result.refused += 1
            elif (s.channel, s.key) in acks:
                result.latencies.setdefault(s.channel, []).append(acks[s.channel, s.key] - s.at)
            else:
                result.missing += 1
        for values in result.latencies.values():
            values.sort()
        return result

    def ack_times(self) -> dict[tuple[str, str], float]:
        """When the first acknowledgement to each customer reached its fake."""
        times: dict[tuple[str, str], float] = {}
        for mail in list(self.sink.messages):
            for rcpt in mail.rcpt_tos:
                times.setdefault(("email", rcpt.lower()), mail.received_at)
        for message in list(self.twilio.messages):
            times.setdefault(("sms", message.form.get("To", "")), message.received_at)
        for call in self.telegram.calls("sendMessage"):
            times.setdefault(("telegram", str(call.params.get("chat_id"))), call.received_at)
        return times

    def pids(self) -> Iterator[tuple[str, int]]:
        """Every real process of the desk by role: Helpline's, redis-server, and PostgreSQL's (postmaster and
        children)."""
        for label, process in self.processes.items():
            yield label, process.pid
        assert self.redis.process is not None
        yield "redis-server", self.redis.process.pid
        postmaster = self.postgres.server.pid
        if postmaster is not None:
            yield "postgres (postmaster)", postmaster
            for child in children_of(postmaster):
                yield "postgres (backend or helper)", child


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def peak_rss_kib(pid: int) -> int:
    """The process's resident-set high-water mark (VmHWM) in KiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14 and 15)
