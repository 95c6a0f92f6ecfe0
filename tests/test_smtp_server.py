"""The real aiosmtpd server, spoken to with smtplib, storing into a real Redis."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.redis_conn import connect
from core.settings import Settings
from core.store import Store
from ingest.email.smtp_server import controller
from tests.mail_factory import raw_email
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain


@pytest.fixture
def smtp_port(settings: Settings, store: Store) -> Iterator[int]:
    port = free_port()
    server = controller(settings, store, port=port)
    server.start()
    yield port
    server.stop()


def send(port: int, raw: bytes, to: str = "support@wallet.example", sender: str = "alice@example.com") -> dict:  # type: ignore[type-arg]
    with smtplib.SMTP("127.0.0.1", port) as client:
        return client.sendmail(sender, [to], raw)


def test_mail_is_stored_routed_and_acknowledged_in_thread(
    smtp_port: int, store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    raw = raw_email("我的充值没到账，请帮忙查一下", subject="充值问题", message_id="<zh-1@example.com>")
    assert send(smtp_port, raw) == {}
    (message_id,) = store.message_ids()
    stored = store.get_message(message_id)
    assert stored is not None
    assert stored.envelope.recipient is not None and stored.envelope.recipient.address == "support@wallet.example"
    stored_raw = store.get_raw(message_id)
    assert stored_raw is not None and stored_raw.replace(b"\r\n", b"\n").strip() == raw.strip()  # as sent, CRLF

    drain(settings)
    routed = store.get_message(message_id)
    assert routed is not None and routed.decision is not None and routed.decision.category == "top_up"
    (ack,) = smtp_sink.wait_for(1)
    assert ack.message["In-Reply-To"] == "<zh-1@example.com>"
    assert "您好" in ack.message.get_content()  # answered in the customer's language


def test_unknown_recipient_is_refused_with_550(smtp_port: int, store: Store) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(smtp_port, raw_email(), to="sales@wallet.example")
    assert refused.value.recipients["sales@wallet.example"][0] == 550
    assert store.message_ids() == []


def test_oversized_mail_gets_552(settings: Settings, store: Store) -> None:
    small = settings.model_copy(deep=True)
    small.email.inbound.max_message_bytes = 2000
    port = free_port()
    server = controller(small, store, port=port)
    server.start()
    try:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            send(port, raw_email("x" * 5000))
        assert refused.value.smtp_code == 552
    finally:
        server.stop()
    assert store.message_ids() == []


def test_duplicate_message_id_is_stored_once(smtp_port: int, store: Store) -> None:
    raw = raw_email(message_id="<same@example.com>")
    send(smtp_port, raw)
    send(smtp_port, raw)
    assert len(store.message_ids()) == 1


def test_store_down_answers_451_and_nothing_is_lost(settings: Settings, tmp_path: Path) -> None:
    private = RedisServer(tmp_path / "r").start()
    store = Store(
        connect(settings.model_copy(update={"redis": settings.redis.model_copy(update={"url": private.url})}))
    )
    port = free_port()
    server = controller(settings, store, port=port)
    server.start()
    try:
        private.stop()
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send(port, raw_email(message_id="<retry@example.com>"))
        assert refused.value.smtp_code == 451
        private.start()  # the sending MTA retries once the store is back
        store.redis.connection_pool.reset()
        assert send(port, raw_email(message_id="<retry@example.com>")) == {}
        assert len(store.message_ids()) == 1
    finally:
        server.stop()
        private.stop()


def test_bounce_with_empty_return_path_is_never_acknowledged(
    smtp_port: int, store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        client.sendmail("<>", ["support@wallet.example"], raw_email("Delivery failed"))
    drain(settings)
    (message_id,) = store.message_ids()
    stored = store.get_message(message_id)
    assert stored is not None and stored.envelope.bounce
    assert stored.ack_status is not None and stored.ack_status.startswith("suppressed")
    assert smtp_sink.messages == []


def test_arrival_time_is_ours_not_the_senders_date_header(smtp_port: int, store: Store) -> None:
    from datetime import UTC, datetime, timedelta

    send(smtp_port, raw_email(message_id="<old@example.com>", headers={"Date": "Mon, 01 Jan 2001 00:00:00 +0000"}))
    (message_id,) = store.message_ids()
    message = store.get_message(message_id)
    assert message is not None
    assert datetime.now(UTC) - message.envelope.received_at < timedelta(minutes=5)  # SLA clocks start on arrival
    assert message.envelope.extras["sent_at"] == "2001-01-01T00:00:00+00:00"


def test_a_rule_about_one_address_matches_whatever_the_order_of_recipients(
    smtp_port: int, store: Store, settings: Settings
) -> None:
    raw = raw_email("I have a question about my account settings", message_id="<both@example.com>")
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        client.sendmail("alice@example.com", ["support@wallet.example", "fraud@wallet.example"], raw)
    drain(settings)
    (message_id,) = store.message_ids()
    message = store.get_message(message_id)
    assert message is not None and message.decision is not None
    assert (message.decision.category, message.decision.priority.value) == ("security", "urgent")  # "fraud mailbox"


def test_a_cc_to_the_fraud_address_counts_too(smtp_port: int, store: Store, settings: Settings) -> None:
    raw = raw_email("question about my account", message_id="<cc@example.com>", headers={"Cc": "fraud@wallet.example"})
    send(smtp_port, raw)
    drain(settings)
    (message_id,) = store.message_ids()
    message = store.get_message(message_id)
    assert message is not None and message.envelope.other_recipients == ["fraud@wallet.example"]
    assert message.decision is not None and message.decision.category == "security"


def test_the_header_to_counts_when_the_transaction_names_another_address(
    smtp_port: int, store: Store, settings: Settings
) -> None:
    raw = raw_email("question about my account", to="fraud@wallet.example", message_id="<to@example.com>",
                    headers={"Cc": "support@wallet.example"})  # fmt: skip
    send(smtp_port, raw, to="support@wallet.example")  # the copy for support@, in its own transaction
    drain(settings)
    (message_id,) = store.message_ids()
    message = store.get_message(message_id)
    assert message is not None and "fraud@wallet.example" in message.envelope.other_recipients
    assert message.decision is not None and message.decision.category == "security"


def test_the_greeting_name_is_looked_up_once_not_for_every_connection(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiosmtpd calls socket.getfqdn() for each connection unless told the name: a resolver round trip in the event
    loop, which every other connection would wait for."""
    import socket

    lookups: list[str] = []
    real = socket.getfqdn

    def counted(name: str = "") -> str:
        lookups.append(name)
        return real(name)

    monkeypatch.setattr(socket, "getfqdn", counted)
    port = free_port()
    server = controller(settings, store, port=port)
    server.start()
    try:
        for _ in range(3):
            with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example") as client:
                code, greeting = client.ehlo()
                assert code == 250 and greeting.decode().startswith(real())
    finally:
        server.stop()
    assert lookups == [""]  # once, when the server was made
