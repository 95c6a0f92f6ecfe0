"""channels/email.py against a real SMTP server: a relay's refusal of a recipient is an error for every email sent."""

from __future__ import annotations

import pytest

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
