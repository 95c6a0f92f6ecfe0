"""A desk on a replicated Redis: a master, a replica and three sentinels on this machine; the master is killed while
mail streams in over SMTP. Every message its sender was told was stored (250) is stored once and answered once."""

from __future__ import annotations

import smtplib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import SimpleWorker

from core.errors import SettingsError
from core.queues import queues
from core.redis_conn import ReplicatedRedis, connect
from core.settings import RedisSettings, Settings, load_settings
from core.store import Store
from ingest.email.smtp_server import controller
from tests.mail_factory import raw_email
from tests.support.ports import free_port
from tests.support.sentinel_cluster import SERVICE, SentinelCluster
from tests.support.smtp_sink import SmtpSink
from workers import context

MESSAGES = 100
KILL_AFTER = 40  # accepted messages before the master dies
SEND_DEADLINE_SECONDS = 25.0


@pytest.fixture
def cluster() -> Iterator[SentinelCluster]:
    with SentinelCluster(replicas=1, sentinels=3) as started:
        yield started


def sentinel_settings(settings: Settings, cluster: SentinelCluster) -> Settings:
    redis = RedisSettings(sentinels=cluster.sentinels, service=SERVICE, replica_acks=1, replica_wait_ms=500)
    return settings.model_copy(update={"redis": redis})


class Sender(threading.Thread):
    """An MTA in a hurry: one message after another; a 4xx or a dropped connection means "try again shortly"."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.accepted: list[str] = []  # Message-IDs answered 250, in order
        self.temporary_failures = 0
        self.permanent: list[str] = []

    def run(self) -> None:
        deadline = time.monotonic() + SEND_DEADLINE_SECONDS
        for number in range(MESSAGES):
            message_id = f"failover-{number}@example.com"
            sender = f"{letters(number)}@example.com"  # distinct people: the auto-reply caps stay out of it
            raw = raw_email(f"Order {number}: my top-up failed", sender=sender, message_id=f"<{message_id}>")
            while time.monotonic() < deadline:
                try:
                    with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
                        client.sendmail(sender, ["support@wallet.example"], raw)
                    self.accepted.append(message_id)
                    break
                except smtplib.SMTPResponseException as exc:
                    if exc.smtp_code < 500:
                        self.temporary_failures += 1
                        time.sleep(0.1)
                        continue
                    self.permanent.append(f"{message_id}: {exc.smtp_code} {exc.smtp_error!r}")
                    break
                except (smtplib.SMTPServerDisconnected, OSError):
                    self.temporary_failures += 1
                    time.sleep(0.1)


def letters(number: int) -> str:
    """0 -> "a", 27 -> "bb": names without digits, so no two customers share an address shape (workers/reply_caps)."""
    return chr(ord("a") + number % 26) * (1 + number // 26) + "name"


def work_until_empty(redis: Redis) -> None:
    SimpleWorker(queues(redis), connection=redis).work(burst=True, logging_level="WARNING")


def test_a_master_killed_mid_stream_loses_and_doubles_nothing(
    cluster: SentinelCluster, settings: Settings, smtp_sink: SmtpSink
) -> None:
    settings = sentinel_settings(settings, cluster)
    redis = connect(settings)  # one client for the whole test: it must follow the failover by itself
    assert isinstance(redis, ReplicatedRedis)
    store = Store(redis)
    context.install(context.context_for(settings, store))
    port = free_port()
    server = controller(settings, store, port=port)
    server.start()
    try:
        sender = Sender(port)
        sender.start()
        deadline = time.monotonic() + 10
        while len(sender.accepted) < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.01)
        old_master = cluster.master_port()
        cluster.kill(old_master)  # mid-stream: the sender is still sending
        new_master = cluster.wait_for_failover(old_master)
        sender.join(SEND_DEADLINE_SECONDS + 5)
        assert not sender.is_alive()
    finally:
        server.stop()

    assert new_master != old_master
    assert sender.permanent == []
    assert len(sender.accepted) == MESSAGES, f"only {len(sender.accepted)} accepted before the deadline"
    assert sender.temporary_failures > 0  # the failover was felt (451 or a dropped connection), and ridden out

    stored = [store.get_message(message_id) for message_id in store.message_ids()]
    stored_ids = [str(m.envelope.message_id) for m in stored if m is not None]
    assert sorted(stored_ids) == sorted(sender.accepted)  # every 250 is there, and only once

    work_until_empty(redis)  # the same client, now talking to the promoted replica
    acknowledgements = smtp_sink.wait_for(MESSAGES, timeout=30)
    answered = sorted(str(m.message["In-Reply-To"]).strip("<>") for m in acknowledgements)
    assert answered == sorted(sender.accepted)  # each answered once


def test_a_message_no_replica_confirmed_gets_a_451_and_its_retry_is_stored_once(
    cluster: SentinelCluster, settings: Settings
) -> None:
    settings = sentinel_settings(settings, cluster)
    settings.redis.replica_wait_ms = 300
    store = Store(connect(settings))
    port = free_port()
    server = controller(settings, store, port=port)
    server.start()
    raw = raw_email(message_id="<unconfirmed@example.com>")
    replica = cluster.data_ports[1]
    try:
        cluster.freeze(replica)
        try:
            with smtplib.SMTP("127.0.0.1", port) as client, pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail("alice@example.com", ["support@wallet.example"], raw)
            assert refused.value.smtp_code == 451  # on the master only: a failover now could lose it
        finally:
            cluster.thaw(replica)
        with smtplib.SMTP("127.0.0.1", port) as client:  # the sender's retry, once the replica is back
            assert client.sendmail("alice@example.com", ["support@wallet.example"], raw) == {}
    finally:
        server.stop()
    (message_id,) = store.message_ids()
    assert Redis(port=replica).exists(f"hl:msg:{message_id}")


def test_sentinels_and_service_go_together(tmp_path: Path) -> None:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text('[redis]\nsentinels = ["10.0.0.1:26379", "no-port"]\n')
    with pytest.raises(SettingsError) as error:
        load_settings(settings_file)
    message = str(error.value)
    assert "'no-port' is not host:port" in message
    settings_file.write_text('[redis]\nsentinels = ["10.0.0.1:26379"]\n')
    with pytest.raises(SettingsError, match=r"redis\.sentinels and redis\.service go together"):
        load_settings(settings_file)
