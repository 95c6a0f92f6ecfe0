"""Nothing lost when a process dies: real worker and scheduler processes (`helpline serve`), a private redis-server
with an append-only file, the real SMTP sink. Each acknowledgement must reach the sink under its reply's Message-ID
exactly once, except where the README says otherwise (the relay took the mail, then Helpline could not record it).

Short windows (`workers.job_timeout_seconds` 4, `abandoned_after_seconds` 5, `reconcile_seconds` 0.5) keep these
tests to seconds; the defaults are 20, 30 and 10.
"""

from __future__ import annotations

import os
import signal
import string
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rq import Worker

from core import inflight
from core.envelope import Channel, Envelope, Party
from core.errors import StoreUnavailable
from core.inflight import Kind
from core.queues import QUEUE_ORDER
from core.records import ReplyState
from core.settings import Settings, load_settings
from core.store import INBOUND_QUEUE, Store
from tests.support.dovecot import Dovecot
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink
from tests.support.web_server import WebServer
from tests.support.work import drain
from web.app import create_app
from workers.reconcile import reconcile

ROOT = Path(__file__).resolve().parent.parent
WINDOWS = {"JOB_TIMEOUT_SECONDS": "4", "ABANDONED_AFTER_SECONDS": "5", "RECONCILE_SECONDS": "0.5"}


def customer(n: int) -> str:
    """A distinct customer per n, written without digits: the auto-reply cap on repeated text counts senders by the
    shape of their address (digits folded), and these are many people writing the same few texts, not one robot."""
    return f"customer-{string.ascii_lowercase[n % 26]}{string.ascii_lowercase[n // 26 % 26]}@example.com"


TEXTS = ["my withdrawal is pending", "card payment declined twice", "how do I change my phone number",
         "top-up failed but money left my bank", "refund not received"]  # fmt: skip

pytestmark = pytest.mark.slow


class Desk:
    """A private Redis with an AOF, the processes a Procfile would run against it, and a way to feed it mail."""

    def __init__(self, tmp_path: Path, sink: SmtpSink, record_url: str) -> None:
        self.tmp_path = tmp_path
        self.sink = sink
        self.redis = RedisServer(tmp_path / "redis", appendonly=True).start()
        self.store = Store(self.redis.client())
        self.processes: list[subprocess.Popen[bytes]] = []
        self.accepted: list[str] = []
        self.env = {
            **os.environ,
            "HELPLINE_SETTINGS": str(ROOT / "settings.toml"),
            "HELPLINE_REDIS__URL": self.redis.url,
            "HELPLINE_DATABASE__URL": record_url,
            "HELPLINE_EMAIL__OUTBOUND__PORT": str(sink.port),
            **{f"HELPLINE_WORKERS__{key}": value for key, value in WINDOWS.items()},
        }

    def start(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"{name}-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen([sys.executable, "-m", "helpline", "serve", name], cwd=ROOT, env=self.env,
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        self.processes.append(process)
        return process

    def accept(self, n: int, *, sender: str | None = None) -> str:
        """Store message `n` as the SMTP server would, retrying while the store is down (as a sending MTA does)."""
        envelope = mail(f"fault-{n}@example.com", sender or customer(n), TEXTS[n % len(TEXTS)])
        deadline = time.monotonic() + 30
        while True:
            try:
                message_id = self.store.accept(envelope, b"raw").message_id
                self.accepted.append(message_id)
                return message_id
            except StoreUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def expected_ids(self) -> set[str]:
        domain = load_settings(ROOT / "settings.toml").email.outbound.sender.rpartition("@")[2]
        return {f"<helpline.r-ack-{message_id}@{domain}>" for message_id in self.accepted}

    def acks(self) -> Counter[str]:
        return Counter(str(m.message["Message-ID"]) for m in self.sink.messages)

    def wait_for_every_ack(self, timeout: float) -> Counter[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.expected_ids() <= set(self.acks()):
            time.sleep(0.1)
        return self.acks()

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.store.redis.close()
        self.redis.stop()


@pytest.fixture
def desk(tmp_path: Path, smtp_sink: SmtpSink, record_url: str) -> Iterator[Desk]:
    opened = Desk(tmp_path, smtp_sink, record_url)
    yield opened
    opened.close()


def holder_of(desk: Desk, message_id: str) -> int:
    """The pid of the worker sending the acknowledgement of `message_id`: the one running that message's pipeline
    job, or, when another pipeline job took it from the queue (workers/jobs.py), the one pipeline job still running
    once every other message has its acknowledgement (the holder takes nothing more while it waits)."""
    running: dict[int, str] = {}
    for worker in Worker.all(connection=desk.store.redis):
        job_id = worker.get_current_job_id()
        if job_id and job_id.startswith("process-") and worker.pid is not None:
            running[worker.pid] = job_id
    mine = [pid for pid, job_id in running.items() if message_id in job_id]
    if mine:
        return mine[0]
    if len(running) == 1 and len(desk.acks()) == len(desk.accepted) - 1:
        return next(iter(running))
    raise AssertionError(f"no worker holds the acknowledgement of {message_id}")


def test_a_worker_killed_mid_send_loses_no_acknowledgement(desk: Desk, smtp_sink: SmtpSink) -> None:
    for _ in range(2):
        desk.start("worker")
    scheduler = desk.start("scheduler")
    smtp_sink.hold_recipient(customer(7), 20)  # the worker sending this one is caught mid-transaction
    for n in range(20):
        desk.accept(n)
    assert smtp_sink.wait_for_rcpt(customer(7), timeout=60)  # two workers start first: slow on a busy machine
    held = desk.accepted[7]
    deadline = time.monotonic() + 30
    while True:  # RQ records the job as the worker's current one just before it runs it
        try:
            pid = holder_of(desk, held)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    desk.start("worker")  # what a supervisor does
    acks = desk.wait_for_every_ack(timeout=45)
    took = time.monotonic() - killed_at
    assert set(acks) == desk.expected_ids(), f"lost: {desk.expected_ids() - set(acks)}"
    assert all(count == 1 for count in acks.values()), f"sent twice: {[i for i, c in acks.items() if c > 1]}"
    assert took < 60, f"the last acknowledgement went out {took:.0f}s after the crash"
    assert scheduler.poll() is None
    wait_until(lambda: inflight.count(desk.store, Kind.SEND) == 0 and inflight.count(desk.store, Kind.PROCESS) == 0)


def test_a_redis_restart_mid_stream_loses_nothing_and_stops_no_process(desk: Desk, smtp_sink: SmtpSink) -> None:
    processes = [desk.start("worker"), desk.start("worker"), desk.start("scheduler")]

    def feed() -> None:
        for n in range(40):
            desk.accept(n)
            time.sleep(0.05)

    feeder = threading.Thread(target=feed)
    feeder.start()
    wait_until(lambda: len(desk.accepted) >= 15)
    desk.redis.stop()  # SIGTERM: Redis writes its AOF and goes; every client's connection breaks
    time.sleep(1.0)
    desk.redis.start()  # same port, same AOF
    feeder.join(60)
    acks = desk.wait_for_every_ack(timeout=45)
    assert len(desk.accepted) == 40
    assert set(acks) == desk.expected_ids(), f"lost: {desk.expected_ids() - set(acks)}"
    assert all(count == 1 for count in acks.values()), f"sent twice: {[i for i, c in acks.items() if c > 1]}"
    assert [p.poll() for p in processes] == [None, None, None]


def test_redis_away_then_back_the_web_app_answers_503_then_200_and_workers_carry_on(
    desk: Desk, smtp_sink: SmtpSink, settings: Settings
) -> None:
    processes = [desk.start("worker"), desk.start("scheduler")]
    configured = settings.model_copy(update={
        "web": settings.web.model_copy(update={"metrics_open": True}),
        "redis": settings.redis.model_copy(update={"url": desk.redis.url}),
    })  # fmt: skip
    web = WebServer(create_app(configured, desk.store)).start()
    try:
        assert httpx.get(web.url + "/healthz", timeout=10).status_code == 200
        # The worker is busy sending when Redis goes, and stays away longer than it waits to record the send.
        smtp_sink.hold_recipient(customer(0), 1.5)
        desk.accept(0)
        assert smtp_sink.wait_for_rcpt(customer(0), timeout=60)  # the worker starts first: slow on a busy machine
        desk.redis.stop()
        assert httpx.get(web.url + "/healthz", timeout=10).status_code == 503
        assert httpx.get(web.url + "/metrics", timeout=10).status_code == 503
        time.sleep(4)
        desk.redis.start()
        wait_until(lambda: httpx.get(web.url + "/healthz", timeout=10).status_code == 200)
        for n in range(1, 6):
            desk.accept(n)
        acks = desk.wait_for_every_ack(timeout=45)
    finally:
        web.stop()
    assert set(acks) == desk.expected_ids(), f"lost: {desk.expected_ids() - set(acks)}"
    # The one the relay took while Redis was away could not be recorded as sent: it went again, under the same
    # Message-ID (the documented exception). Every other one went once.
    assert all(count == 1 for message_id, count in acks.items() if desk.accepted[0] not in message_id)
    assert [p.poll() for p in processes] == [None, None]


def test_a_job_taken_from_its_queue_by_a_worker_that_then_died_is_queued_again(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    """The multi-queue worker's gap, made on purpose: the job id popped (as BLPOP does), never started."""
    from workers import context

    context.install(context.context_for(settings, store))
    envelope = mail("popped@example.com", "a@example.com")
    accepted = store.accept(envelope, b"raw")
    assert store.redis.lpop(store.queue(INBOUND_QUEUE).key) == f"process-{accepted.message_id}".encode()
    window = settings.workers.abandoned_after_seconds
    assert not reconcile(settings, store, time.time())  # within the window: maybe just being started
    assert not reconcile(settings, store, time.time() + window + 1)  # maybe a worker has just taken it: look again
    report = reconcile(settings, store, time.time() + window + 2)
    assert report.requeued == [f"process {accepted.message_id}: its job was taken from the queue and never started"]
    drain(settings)
    (ack,) = smtp_sink.wait_for(1)
    assert ack.message["In-Reply-To"] == "<popped@example.com>"
    assert not reconcile(settings, store, time.time() + window + 1)  # done: nothing in flight any more
    assert inflight.count(store, Kind.PROCESS) == inflight.count(store, Kind.SEND) == 0


def test_a_send_job_whose_retries_ran_out_is_recorded_as_failed(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    """RQ gave up on a job (an error outside the sender, every retry spent): the reply and the message say so."""
    from rq.job import Job, JobStatus
    from rq.results import Result

    from workers import context
    from workers.jobs import process_message, send_job_id

    context.install(context.context_for(settings, store))
    envelope = mail("spent@example.com", "b@example.com")
    accepted = store.accept(envelope, b"raw")
    smtp_sink.refuse("451 4.3.0 try again later")
    process_message(accepted.message_id)  # routed; its acknowledgement's first attempt failed, a retry job queued
    reply_id = f"r-ack-{accepted.message_id}"
    job = Job.fetch(send_job_id(reply_id, 2), connection=store.redis)
    for name in QUEUE_ORDER:
        store.queue(name).remove(job)
    with store.redis.pipeline() as pipe:  # as RQ records a job whose last retry failed
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        Result.create_failure(job, 500, "Traceback ...\nConnectionError: Connection refused", pipeline=pipe)
        pipe.execute()
    due = settings.replies.retry_backoff_seconds[0]  # the retry's entry counts from when it is due
    report = reconcile(settings, store, time.time() + due + settings.workers.abandoned_after_seconds + 1)
    assert len(report.failed) == 1 and "Connection refused" in report.failed[0]
    reply = store.get_reply(reply_id)
    message = store.get_message(accepted.message_id)
    assert reply is not None and reply.state is ReplyState.FAILED and "Connection refused" in (reply.error or "")
    assert message is not None and message.ack_status is not None and message.ack_status.startswith("failed:")
    assert inflight.count(store, Kind.SEND) == 0 and smtp_sink.messages == []


def mail(message_id: str, sender: str, text: str = "my withdrawal is pending") -> Envelope:
    return Envelope(channel=Channel.EMAIL, provider_id=message_id, sender=Party(address=sender),
                    subject=text[:20], text=text, message_id=message_id)  # fmt: skip


def wait_until(condition: object, timeout: float = 30.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_the_imap_poller_rides_out_redis_going_away(tmp_path: Path, dovecot: Dovecot, settings: Settings) -> None:
    """Every Redis call of the poller goes through the store, which turns a connection error into StoreUnavailable:
    the poller ends its IMAP session, leaves the mail unseen and reconnects with backoff until it can store it."""
    from ingest.email.imap_poller import ImapPoller
    from tests.mail_factory import raw_email
    from tests.test_imap_poller import flags_in, imap_settings, mailbox

    folder = f"T{uuid.uuid4().hex[:10]}"  # a folder of this test's own on the shared Dovecot
    redis = RedisServer(tmp_path / "redis", appendonly=True).start()
    store = Store(redis.client())
    redis.stop()
    with mailbox(dovecot) as client:
        client.create_folder(folder)
        client.append(folder, raw_email("my account is locked", message_id="<imap-away@example.com>"))
    stop = threading.Event()
    poller = ImapPoller(imap_settings(settings, dovecot, folder), store, stop=stop)
    thread = threading.Thread(target=poller.run, daemon=True)
    thread.start()
    try:
        time.sleep(1.5)  # at least one session has failed on the store by now
        assert thread.is_alive() and flags_in(dovecot, folder) == [()]  # not marked seen: not stored
        redis.start()
        wait_until(lambda: poller.stored == 1, timeout=20)
        assert thread.is_alive() and len(store.message_ids()) == 1
        wait_until(lambda: flags_in(dovecot, folder) == [(b"\\Seen",)], timeout=10)
    finally:
        stop.set()
        thread.join(15)
        store.redis.close()
        redis.stop()


def test_a_window_no_longer_than_the_job_timeout_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Else a job still running would look abandoned and two workers would hold it at once."""
    from core.errors import SettingsError

    monkeypatch.setenv("HELPLINE_WORKERS__JOB_TIMEOUT_SECONDS", "30")
    monkeypatch.setenv("HELPLINE_WORKERS__ABANDONED_AFTER_SECONDS", "30")
    with pytest.raises(SettingsError, match="abandoned_after_seconds \\(30\\) must be greater than"):
        load_settings(ROOT / "settings.toml")


def test_a_message_whose_job_dies_with_its_worker_every_time_is_given_up(store: Store, settings: Settings) -> None:
    """A poison message must not take a worker down every window forever: after MAX_REQUEUES it is a failure."""
    from workers.reconcile import MAX_REQUEUES

    accepted = store.accept(mail("poison@example.com", "c@example.com"), b"raw")
    inbound = store.queue(INBOUND_QUEUE).key
    now = time.time()
    for _ in range(MAX_REQUEUES):
        assert store.redis.lpop(inbound) is not None  # taken, and the worker died with it
        now += settings.workers.abandoned_after_seconds + 1
        assert not reconcile(settings, store, now)  # a first sighting
        assert len(reconcile(settings, store, now + 1).requeued) == 1
    assert store.redis.lpop(inbound) is not None
    now += settings.workers.abandoned_after_seconds + 2
    assert not reconcile(settings, store, now)
    report = reconcile(settings, store, now + 1)
    assert report.requeued == [] and len(report.failed) == 1 and f"lost {MAX_REQUEUES} times" in report.failed[0]
    message = store.get_message(accepted.message_id)
    assert message is not None and message.notes[-1].startswith("pipeline failed for good:")
    assert inflight.count(store, Kind.PROCESS) == 0 and store.redis.llen(inbound) == 0


def test_a_retry_no_rq_scheduler_queued_is_queued_by_the_reconciler(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    """The worker whose RQ scheduler would queue the due retries died; another takes it over only minutes later."""
    from rq.registry import ScheduledJobRegistry

    from workers import context
    from workers.jobs import process_message, send_job_id

    context.install(context.context_for(settings, store))
    accepted = store.accept(mail("later@example.com", "d@example.com"), b"raw")
    queues = [store.queue(name) for name in QUEUE_ORDER]
    for queue in queues:
        queue.empty()  # type: ignore[no-untyped-call]  # the job is run by hand
    reply_id = f"r-ack-{accepted.message_id}"
    smtp_sink.refuse("451 4.3.0 try again later")
    # The pipeline job sends the acknowledgement itself: attempt 1 fails, attempt 2 is scheduled in 10 s.
    assert "; acknowledgement attempt 1 failed" in process_message(accepted.message_id)
    smtp_sink.refuse(None)
    window, first_retry = settings.workers.abandoned_after_seconds, settings.replies.retry_backoff_seconds[0]
    assert not reconcile(settings, store, time.time() + window)  # not due yet
    report = reconcile(settings, store, time.time() + first_retry + window + 1)
    assert report.requeued == [f"send {reply_id}: its retry was due and no RQ scheduler queued it (the worker running "
                               "it died)"]  # fmt: skip
    assert all(ScheduledJobRegistry(queue=q).count == 0 for q in queues)  # type: ignore[no-untyped-call]
    assert [job for q in queues for job in q.job_ids] == [send_job_id(reply_id, 2)]
    drain(settings)
    assert len(smtp_sink.wait_for(1)) == 1 and inflight.count(store, Kind.SEND) == 0
