"""channels/email.py against a real SMTP server: a relay's refusal of a recipient is an error for every email sent."""

from __future__ import annotations

import socket

import pytest

from channels import email as email_channel
from channels.email import send_notice
from core.errors import PermanentSendError, TransientSendError
from core.settings import Settings
from tests.support.smtp_sink import SmtpSink


def test_a_notice_reaches_every_recipient(settings: Settings, smtp_sink: SmtpSink) -> None:
    send_notice(settings.email.outbound, ["duty@wallet.example", "lead@wallet.example"], "[SLA] test", "body")
    (notice,) = smtp_sink.wait_for(1)
    assert notice.rcpt_tos == ["duty@wallet.example", "lead@wallet.example"]


def test_a_notice_recipient_refused_for_good_is_a_permanent_error(settings: Settings, smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse_recipient("gone@wallet.example", "550 5.1.1 no such user")
    with pytest.raises(PermanentSendError, match="550"):
        send_notice(settings.email.outbound, ["duty@wallet.example", "gone@wallet.example"], "[SLA] test", "body")


def test_a_notice_recipient_refused_for_now_is_a_transient_error(settings: Settings, smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse_recipient("busy@wallet.example", "450 4.2.1 mailbox busy")
    with pytest.raises(TransientSendError, match="450"):
        send_notice(settings.email.outbound, ["busy@wallet.example"], "[SLA] test", "body")


def test_mails_in_a_row_share_one_relay_connection(settings: Settings, smtp_sink: SmtpSink) -> None:
    send_notice(settings.email.outbound, ["duty@wallet.example"], "first", "body")
    kept = email_channel._relay.smtp
    send_notice(settings.email.outbound, ["duty@wallet.example"], "second", "body")
    assert kept is not None and email_channel._relay.smtp is kept
    assert [m.message["Subject"] for m in smtp_sink.wait_for(2)] == ["first", "second"]


def test_a_kept_connection_the_relay_dropped_is_replaced_and_the_mail_still_sent(
    settings: Settings, smtp_sink: SmtpSink
) -> None:
    send_notice(settings.email.outbound, ["duty@wallet.example"], "first", "body")
    kept = email_channel._relay.smtp
    assert kept is not None and kept.sock is not None
    kept.sock.shutdown(socket.SHUT_RDWR)  # as when a relay closes an idle client
    send_notice(settings.email.outbound, ["duty@wallet.example"], "second", "body")
    assert email_channel._relay.smtp is not kept
    assert [m.message["Subject"] for m in smtp_sink.wait_for(2)] == ["first", "second"]


def test_a_relay_that_is_gone_is_a_transient_error_after_a_kept_connection(settings: Settings) -> None:
    relay = SmtpSink().start()
    outbound = settings.email.outbound.model_copy(update={"port": relay.port})
    send_notice(outbound, ["duty@wallet.example"], "first", "body")
    relay.stop()
    with pytest.raises(TransientSendError, match="unreachable"):
        send_notice(outbound, ["duty@wallet.example"], "second", "body")
    assert email_channel._relay.smtp is None
