"""channels/email.py against a real SMTP server: a relay's refusal of a recipient is an error for every email sent."""

from __future__ import annotations

import socket

import pytest

from channels import email as email_channel
from channels.email import EmailSender, recipient_address, send_notice
from core.envelope import Channel, Envelope, Party
from core.errors import PermanentSendError, TransientSendError
from core.records import Reply
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


def test_a_reply_in_chinese_reaches_an_internationalised_domain_through_any_relay(
    settings: Settings, smtp_sink: SmtpSink
) -> None:
    """The reply's subject and the desk's name in Chinese are RFC 2047-encoded; a domain in Chinese is written in its
    IDNA form, so a relay without SMTPUTF8 takes it too."""
    outbound = settings.email.outbound.model_copy(update={"sender_name": "钱包客服"})
    reply = Reply(
        id="r-idn", message_id="m-idn", channel=Channel.EMAIL, to="Alice@例子.中国", purpose="acknowledgement",
        language="zh", subject="回复：充值失败 [Case HL-ABC123]", text="您好，我们已收到您的消息。",
    )  # fmt: skip
    original = Envelope(
        channel=Channel.EMAIL, provider_id="orig@example.com", sender=Party(address="Alice@例子.中国"),
        text="充值失败", subject="充值失败", message_id="orig@example.com", references=["first@example.com"],
    )  # fmt: skip
    assert EmailSender(outbound).send(reply, original) == "helpline.r-idn@wallet.example"
    (sent,) = smtp_sink.wait_for(1)
    assert sent.rcpt_tos == ["Alice@xn--fsqu00a.xn--fiqs8s"]
    mail = sent.message
    assert mail["To"] == "Alice@xn--fsqu00a.xn--fiqs8s" and mail["From"].addresses[0].display_name == "钱包客服"
    assert mail["Subject"] == "回复：充值失败 [Case HL-ABC123]"
    assert mail["Message-ID"] == "<helpline.r-idn@wallet.example>" and mail["In-Reply-To"] == "<orig@example.com>"
    assert mail["References"] == "<first@example.com> <orig@example.com>"
    assert mail["Auto-Submitted"] == "auto-replied" and mail["X-Auto-Response-Suppress"] == "All"
    assert mail.get_content().strip() == "您好，我们已收到您的消息。"


def test_a_domain_that_is_no_internationalised_name_fails_for_good() -> None:
    with pytest.raises(PermanentSendError, match="internationalised"):
        recipient_address("alice@☃.com")  # no IDNA 2008 name may hold a snowman
