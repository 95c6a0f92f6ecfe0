"""Long lines and headerless senders through the real aiosmtpd server, spoken to with smtplib, into a real Redis."""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from core.settings import Settings
from core.store import Store
from ingest.email.smtp_server import _ADDRESSES, SupportMailHandler, _SupportSMTP, controller
from tests.support.ports import free_port

SUPPORT = "support@wallet.example"
ROOT = Path(__file__).resolve().parent.parent
StartServer = Callable[..., int]


def _mail(body_line: bytes, message_id: str) -> bytes:
    return (
        b"From: Alice Tan <alice@example.com>\r\nTo: support@wallet.example\r\nSubject: Statement\r\n"
        b"Message-ID: <" + message_id.encode() + b">\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><body><p>My top-up failed.</p>" + body_line + b"</body></html>\r\n"
    )


@pytest.fixture
def server_with(settings: Settings, store: Store) -> Iterator[StartServer]:
    """Start the real SMTP server (with a chosen line limit); every server started is stopped after the test."""
    started: list[Controller] = []

    def start(max_line_bytes: int | None = None) -> int:
        chosen = settings.model_copy(deep=True)
        if max_line_bytes is not None:
            chosen.email.inbound.max_line_bytes = max_line_bytes
        port = free_port()
        server = controller(chosen, store, port=port)
        server.start()
        started.append(server)
        return port

    yield start
    for server in started:
        server.stop()


@pytest.mark.parametrize("length", [1_500, 200_000])
def test_lines_longer_than_1000_octets_are_taken_and_stored_intact(
    server_with: StartServer, store: Store, length: int
) -> None:
    port = server_with()
    line = b"<p>" + b"x" * length + b"</p>"
    raw = _mail(line, f"long-{length}@example.com")
    with smtplib.SMTP("127.0.0.1", port) as client:
        assert client.sendmail("alice@example.com", [SUPPORT], raw) == {}
    (message_id,) = store.message_ids()
    stored_raw = store.get_raw(message_id)
    assert stored_raw is not None and line in stored_raw
    stored = store.get_message(message_id)
    assert stored is not None and stored.envelope.text.startswith("My top-up failed.")


def test_a_line_over_the_configured_limit_gets_500_and_nothing_is_stored(
    server_with: StartServer, store: Store
) -> None:
    port = server_with(max_line_bytes=2_000)
    with smtplib.SMTP("127.0.0.1", port) as client:
        assert client.sendmail("alice@example.com", [SUPPORT], _mail(b"y" * 1_900, "fits@example.com")) == {}
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("alice@example.com", [SUPPORT], _mail(b"y" * 3_000, "too-long@example.com"))
        assert refused.value.smtp_code == 500
        # The session goes on: the client can send the next mail on the same connection.
        assert client.sendmail("alice@example.com", [SUPPORT], _mail(b"z", "after@example.com")) == {}
    assert len(store.message_ids()) == 2


def test_a_mail_with_no_sender_header_is_answered_to_its_mail_from(server_with: StartServer, store: Store) -> None:
    port = server_with()
    raw = (
        b'From: "Chen Wei" <>\r\nTo: support@wallet.example\r\nSubject: Refund\r\nMessage-ID: <nf@x.com>\r\n\r\nhi\r\n'
    )
    with smtplib.SMTP("127.0.0.1", port) as client:
        assert client.sendmail("chen.wei@example.com", [SUPPORT], raw) == {}
    (message_id,) = store.message_ids()
    stored = store.get_message(message_id)
    assert stored is not None
    assert (stored.envelope.sender.address, stored.envelope.sender.name) == ("chen.wei@example.com", "Chen Wei")
    assert stored.envelope.extras["sender_header"] == "MAIL FROM"


def test_the_line_limit_is_a_setting_with_an_environment_override(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import load_settings

    monkeypatch.setenv("HELPLINE_EMAIL__INBOUND__MAX_LINE_BYTES", "4096")
    assert load_settings(ROOT / "settings.toml").email.inbound.max_line_bytes == 4096
    monkeypatch.setenv("HELPLINE_EMAIL__INBOUND__MAX_LINE_BYTES", "999")
    with pytest.raises(Exception, match="max_line_bytes"):
        load_settings(ROOT / "settings.toml")


@pytest.mark.parametrize(
    "argument",
    [
        "<alice@example.com>",
        "<alice@example.com> SIZE=100 BODY=8BITMIME",
        "alice@example.com",
        "<>",
        "",
        "<not an address>",
        '<"q x"@example.com>',
        "<@relay.example:alice@example.com>",
        "<" + "a" * 70 + "@example.com>",
    ],
)
def test_mail_and_rcpt_arguments_are_read_as_aiosmtpd_reads_them(argument: str) -> None:
    """The server remembers how it read a MAIL FROM or RCPT TO argument (aiosmtpd's reading is a tenth of its CPU):
    the same answer as aiosmtpd's own, the first time and from memory, with or without a local-part limit."""
    for limit in (0, 64):
        server = _SupportSMTP(SupportMailHandler.__new__(SupportMailHandler), line_length_limit=998)
        server.local_part_limit = limit
        expected = SMTP._getaddr(server, argument)
        assert server._getaddr(argument) == expected
        assert (argument, limit) in _ADDRESSES
        assert server._getaddr(argument) == expected
