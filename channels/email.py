"""Replies by email through the configured SMTP relay, threaded into the customer's mail client.

Every reply carries its own Message-ID, In-Reply-To/References pointing at the customer's message, and
`Auto-Submitted: auto-replied` (RFC 3834) plus `X-Auto-Response-Suppress` so that well-behaved robots on the
other side never answer it — the other half of loop prevention.
"""

from __future__ import annotations

import smtplib
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from core.envelope import Envelope
from core.errors import PermanentSendError, TransientSendError
from core.records import Reply
from core.settings import OutboundEmailSettings


class EmailSender:
    def __init__(self, settings: OutboundEmailSettings) -> None:
        self.settings = settings

    def compose(self, reply: Reply, original: Envelope) -> EmailMessage:
        message = EmailMessage()
        message["From"] = formataddr((self.settings.sender_name, self.settings.sender))
        message["To"] = reply.to
        message["Subject"] = reply.subject or f"Re: {original.subject}".strip()
        message["Date"] = format_datetime(reply.created_at)
        domain = self.settings.sender.rpartition("@")[2] or None
        message_id = make_msgid(idstring="helpline", domain=domain)
        message["Message-ID"] = message_id
        if original.message_id:
            message["In-Reply-To"] = f"<{original.message_id}>"
            message["References"] = " ".join(f"<{ref}>" for ref in [*original.references, original.message_id])
        if reply.purpose != "answer":
            message["Auto-Submitted"] = "auto-replied"
            message["X-Auto-Response-Suppress"] = "All"
        message["X-Helpline-Reply"] = reply.id
        message.set_content(reply.text, charset="utf-8")
        reply.headers["Message-ID"] = message_id.strip("<>")
        return message

    def send(self, reply: Reply, original: Envelope) -> str:
        message = self.compose(reply, original)
        recipient = Address(addr_spec=reply.to).addr_spec if "@" in reply.to else reply.to
        _deliver(self.settings, message, [recipient])
        return reply.headers["Message-ID"]


def send_notice(settings: OutboundEmailSettings, to: list[str], subject: str, text: str) -> None:
    """An internal email (a supervisor's breach notice) through the same relay; raises like `EmailSender.send`."""
    message = EmailMessage()
    message["From"] = formataddr((settings.sender_name, settings.sender))
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Auto-Submitted"] = "auto-generated"
    message["Message-ID"] = make_msgid(idstring="helpline-notice", domain=settings.sender.rpartition("@")[2] or None)
    message.set_content(text, charset="utf-8")
    _deliver(settings, message, to)


def _deliver(settings: OutboundEmailSettings, message: EmailMessage, recipients: list[str]) -> None:
    """Hand `message` to the relay for `recipients`; a refusal of any of them raises, 4xx transient, 5xx permanent."""
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds) as smtp:
            if settings.starttls:
                smtp.starttls()
            if settings.username and settings.password:
                smtp.login(settings.username, settings.password.get_secret_value())
            # Envelope sender "<>" would be a bounce; use our address so DSNs about the message reach us.
            refused = smtp.send_message(message, from_addr=settings.sender, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused
        raise _classify(*next(iter(exc.recipients.values()))) from exc
    except smtplib.SMTPResponseException as exc:  # sender refused, DATA refused, or any other error reply
        raise _classify(exc.smtp_code, exc.smtp_error) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientSendError(f"relay {settings.host}:{settings.port} unreachable: {exc}") from exc
    if refused:  # some recipients refused, the others accepted
        raise _classify(*next(iter(refused.values())))


def _classify(code: int, text: bytes | str) -> PermanentSendError | TransientSendError:
    detail = text.decode(errors="replace") if isinstance(text, bytes) else text
    if 400 <= code < 500:
        return TransientSendError(f"relay answered {code} {detail}")
    return PermanentSendError(f"relay answered {code} {detail}")
