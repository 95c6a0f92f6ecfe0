"""A desk larger than one process: two SMTP ingest processes and two workers, real `helpline serve` processes on one
Redis, customers writing follow-ups in quick succession through either server: nothing doubled, nothing lost, and
each conversation holds its messages in the order they arrived."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis

from core.envelope import Channel, Envelope, Party
from core.inbox import Filed
from core.records import MessageState
from core.settings import Settings
from core.store import Store
from tests.mail_factory import raw_email
from tests.support.ports import free_port, wait_for_greeting
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink
from workers import context
from workers.jobs import process_message
from workers.ordering import wait_for_earlier

ROOT = Path(__file__).resolve().parent.parent
CUSTOMERS = 20
FOLLOW_UPS = 6  # messages per customer, each answering the one before


@pytest.fixture
def desk(
    redis: Redis, redis_server: RedisServer, smtp_sink: SmtpSink, record_url: str, tmp_path: Path
) -> Iterator[list[int]]:
    """Two `helpline serve smtp` and two `helpline serve worker` processes; yields the SMTP ports."""
    ports = [free_port(), free_port()]
    base = {
        **os.environ,
        "HELPLINE_SETTINGS": str(ROOT / "settings.toml"),
        "HELPLINE_REDIS__URL": redis_server.url,
        "HELPLINE_DATABASE__URL": record_url,
        "HELPLINE_EMAIL__OUTBOUND__HOST": "127.0.0.1",
        "HELPLINE_EMAIL__OUTBOUND__PORT": str(smtp_sink.port),
    }
    commands = [("smtp", {"HELPLINE_EMAIL__INBOUND__PORT": str(port)}) for port in ports]
    commands += [("worker", {}), ("worker", {})]
    processes = []
    logs = []
    for number, (name, extra) in enumerate(commands):
        log = (tmp_path / f"{name}-{number}.log").open("wb")
        logs.append(log)
        command = [sys.executable, "-m", "helpline", "serve", name]
        env = {**base, **extra}
        processes.append(subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        for port in ports:
            wait_for_greeting(port, b"220", timeout=30)
        yield ports
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)
        for log in logs:
            log.close()


def customer(index: int) -> str:
    return "".join(chr(ord("a") + int(digit)) for digit in f"{index:03d}") + "@example.com"  # no digits: own shape


def write_in(ports: list[int], index: int, sent: dict[str, list[str]], failures: list[str]) -> None:
    """One customer: each follow-up answers the previous one, sent as soon as the previous was accepted, each
    through the other server (as a load balancer would spread them)."""
    sender = customer(index)
    previous: str | None = None
    references: list[str] = []
    for number in range(FOLLOW_UPS):
        message_id = f"c{index}-m{number}@example.com"
        headers = {"In-Reply-To": f"<{previous}>", "References": " ".join(references)} if previous else {}
        raw = raw_email(
            f"Follow-up {number} about my refund", sender=sender, message_id=f"<{message_id}>", headers=headers,
            subject="Refund" if number == 0 else "Re: Refund",
        )  # fmt: skip
        try:
            with smtplib.SMTP("127.0.0.1", ports[(index + number) % len(ports)], timeout=10) as client:
                client.sendmail(sender, ["support@wallet.example"], raw)
        except smtplib.SMTPException as exc:
            failures.append(f"{message_id}: {exc}")
            return
        sent.setdefault(sender, []).append(message_id)
        previous = message_id
        references.append(f"<{message_id}>")


def test_two_ingest_processes_and_two_workers_lose_double_and_reorder_nothing(
    desk: list[int], store: Store, smtp_sink: SmtpSink
) -> None:
    sent: dict[str, list[str]] = {}
    failures: list[str] = []
    writers = [threading.Thread(target=write_in, args=(desk, i, sent, failures)) for i in range(CUSTOMERS)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert failures == []
    total = CUSTOMERS * FOLLOW_UPS
    assert sum(len(ids) for ids in sent.values()) == total

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        messages = [store.get_message(m) for m in store.message_ids()]
        if len(messages) == total and all(m and m.state is not MessageState.RECEIVED for m in messages):
            break
        time.sleep(0.2)
    stored = [m for m in (store.get_message(m) for m in store.message_ids()) if m is not None]
    assert sorted(str(m.envelope.message_id) for m in stored) == sorted(i for ids in sent.values() for i in ids)
    assert all(m.state is MessageState.ROUTED for m in stored), [(m.id, m.state, m.drop_reason) for m in stored]

    by_id = {str(m.envelope.message_id): m for m in stored}
    for sender, message_ids in sent.items():
        conversations = {by_id[message_id].conversation_id for message_id in message_ids}
        assert len(conversations) == 1, f"{sender}'s follow-ups split over {len(conversations)} conversations"
        (conversation_id,) = conversations
        assert conversation_id is not None
        in_conversation = store.conversation(conversation_id)["messages"]
        assert [str(store.get_message(m).envelope.message_id) for m in in_conversation] == message_ids  # type: ignore[union-attr]

    # Acknowledgements: the auto-reply caps allow a few per customer and thread; none is sent twice.
    time.sleep(1)
    acknowledged = [str(m.message["In-Reply-To"]).strip("<>") for m in smtp_sink.messages]
    assert len(acknowledged) == len(set(acknowledged))
    assert {message_ids[0] for message_ids in sent.values()} <= set(acknowledged)


def sms(provider_id: str, text: str, seconds_ago: float) -> Envelope:
    return Envelope(
        channel=Channel.SMS, provider_id=provider_id, sender=Party(address="+15550001111"), text=text,
        recipient=Party(address="+15550009999"), received_at=datetime.now(UTC) - timedelta(seconds=seconds_ago),
    )  # fmt: skip


def test_a_follow_up_taken_first_waits_for_the_message_before_it(store: Store, settings: Settings) -> None:
    """Deterministic form of the race above: a second worker takes the follow-up before the first message."""
    first = store.accept(sms("SM-first", "My payment failed", seconds_ago=2), b"").message_id
    second = store.accept(sms("SM-second", "It was order 4412", seconds_ago=1), b"").message_id
    context.install(context.context_for(settings, store))
    follow_up = threading.Thread(target=process_message, args=(second,))
    follow_up.start()  # "another worker": it must wait for the first message
    time.sleep(0.3)
    assert store.conversation_of(second) is None
    process_message(first)
    follow_up.join(10)
    conversation = store.conversation_of(first)
    assert conversation is not None and store.conversation_of(second) == (conversation[0], False)
    assert store.conversation(conversation[0])["messages"] == [first, second]
    assert store.earlier_arrivals(sms("x", "", 0), second) == []


def test_a_follow_up_filed_before_the_message_it_answers_does_not_take_its_acknowledgement(
    store: Store, settings: Settings
) -> None:
    """Filing is not ordered across workers (threading is): the case's one acknowledgement still goes to the message
    that opened the conversation, the follow-up filed first is a follow-up."""
    from workers.pipeline import PIPELINE, Work, file_for_agents, run_pipeline

    context.install(context.context_for(settings, store))
    ctx = context.current()
    before_filing = PIPELINE[: PIPELINE.index(file_for_agents)]
    works = []
    for provider_id, text, ago in (("SM-opens", "My payment failed", 2), ("SM-follows", "It was order 4412", 1)):
        message = store.get_message(store.accept(sms(provider_id, text, seconds_ago=ago), b"").message_id)
        assert message is not None
        work = run_pipeline(Work(message), ctx, before_filing)
        assert isinstance(work, Work)
        works.append(work)
    opening, follow_up = works
    file_for_agents(follow_up, ctx)  # "another worker" files the follow-up first: the case's item is made by it
    file_for_agents(opening, ctx)
    assert follow_up.filed is not None and follow_up.filed.outcome is Filed.NEW
    assert (opening.envelope.extras["case"], follow_up.envelope.extras["case"]) == ("new", "follow-up")


def test_a_stuck_earlier_message_holds_the_next_one_back_only_for_a_while(store: Store) -> None:
    first = store.accept(sms("SM-stuck", "hello", seconds_ago=2), b"").message_id
    second = store.accept(sms("SM-next", "anyone?", seconds_ago=1), b"").message_id
    second_envelope = store.get_message(second).envelope  # type: ignore[union-attr]
    assert store.earlier_arrivals(second_envelope, second) == [first]
    assert wait_for_earlier(store, second_envelope, second, timeout=0.1) == 1
