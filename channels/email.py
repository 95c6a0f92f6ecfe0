"""Replies by email through the configured SMTP relay, threaded into the customer's mail client.

Every reply carries its own Message-ID, In-Reply-To/References pointing at the customer's message, and
`Auto-Submitted: auto-replied` (RFC 3834) plus `X-Auto-Response-Suppress` so that well-behaved robots on the
other side never answer it — the other half of loop prevention.

A reply is built with the email package's compat32 API (`MIMEText`, `Header` for a non-ASCII subject or name):
the modern `EmailMessage` parses every header as it is set, which cost a tenth of a worker's time per
acknowledgement (BENCHMARKS.md), and we set only headers we composed ourselves. Addresses are plain ASCII by then:
a domain in another script is written in its IDNA form (`xn--…`, the `idna` package), which every relay takes,
SMTPUTF8 or not; a local part in another script cannot be written at all and fails for good.
"""

from __future__ import annotations

import smtplib
import threading
import time
from collections.abc import Iterator
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid
from functools import cache
from typing import TypeAlias, cast

import idna

from core.envelope import Envelope
from core.errors import PermanentSendError, TransientSendError
from core.records import ANSWER, Reply
from core.settings import OutboundEmailSettings
from core.subjects import reply_subject


class EmailSender:
    def __init__(self, settings: OutboundEmailSettings) -> None:
        self.settings = settings

    def compose(self, reply: Reply, original: Envelope) -> Mail:
        """The reply as a message; `PermanentSendError` when its recipient can never be written in a header."""
        recipient = recipient_address(reply.to)
        message = _text_mail(reply.text, self.settings, recipient)
        message["Subject"] = _header(one_line(reply.subject or reply_subject(original.subject, "", reply.language)))
        message["Date"] = format_datetime(reply.created_at)
        message_id = reply_message_id(reply, self.settings.sender)
        message["Message-ID"] = f"<{message_id}>"
        references = [ref for ref in [*original.references, original.message_id] if ref and _is_msg_id(ref)]
        if original.message_id and _is_msg_id(original.message_id):
            message["In-Reply-To"] = f"<{original.message_id}>"
        if references:
            message["References"] = " ".join(f"<{ref}>" for ref in references)
        if reply.purpose != ANSWER:
            message["Auto-Submitted"] = "auto-replied"
            message["X-Auto-Response-Suppress"] = "All"
        message["X-Helpline-Reply"] = reply.id
        reply.headers["Message-ID"] = message_id
        return message

    def send(self, reply: Reply, original: Envelope) -> str:
        message = self.compose(reply, original)
        _deliver(self.settings, message, [recipient_address(reply.to)])
        return reply.headers["Message-ID"]


def reply_message_id(reply: Reply, sender: str) -> str:
    """The reply's Message-ID (without brackets), the same on every attempt: when a worker dies after the relay took
    the mail but before Helpline recorded it, the re-send carries the same id and mail clients show one message."""
    domain = sender.rpartition("@")[2] or "helpline.invalid"
    return f"helpline.{reply.id}@{domain}"


def recipient_address(to: str) -> str:
    """`to` as one plain addr-spec, or `PermanentSendError`: no relay can take a malformed address, an address with
    no domain, a list, a line break (header injection) or a non-ASCII local part (Python's email package cannot
    write one, SMTPUTF8 or not)."""
    if not to or any(c in to for c in "\r\n\0"):
        raise PermanentSendError(f"cannot email {to!r}: empty, or a line break in the address")
    try:
        address = Address(addr_spec=to)
    except (ValueError, HeaderParseError) as exc:  # the email package's defects are ValueErrors
        raise PermanentSendError(f"cannot email {to!r}: {exc}") from None
    if not address.username or not address.domain:
        raise PermanentSendError(f"cannot email {to!r}: not a full address (local part @ domain)")
    if address.domain.isascii():
        return address.addr_spec
    try:
        domain = idna.encode(address.domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise PermanentSendError(
            f"cannot email {to!r}: the domain is no valid internationalised name ({exc})"
        ) from None
    return Address(username=address.username, domain=domain).addr_spec


@cache
def _sender_address(sender: str) -> str:
    """The desk's own address (`email.outbound.sender`) written as `recipient_address` writes any: a setting, so
    parsed once per process, not twice per reply."""
    return recipient_address(sender)


# compat32 takes a `Header` for any header's value; typeshed types MIMEText's values as str only.
Mail: TypeAlias = "Message[str, str | Header]"


def _text_mail(text: str, settings: OutboundEmailSettings, to: str) -> Mail:
    """A plain-text UTF-8 mail from the desk's sender to `to` (addresses already plain ASCII)."""
    message = cast(Mail, MIMEText(text, "plain", "utf-8"))
    message["From"] = formataddr((settings.sender_name, _sender_address(settings.sender)), charset="utf-8")
    message["To"] = to
    return message


def _header(value: str) -> str | Header:
    """A header value as it is, or RFC 2047-encoded when it is not ASCII (compat32 writes a str as given)."""
    return value if value.isascii() else Header(value, "utf-8")


def one_line(text: str) -> str:
    """A header value we compose from customer text (a subject): line breaks become spaces, so they cannot inject
    a header and do not cost the customer their reply."""
    return " ".join(text.splitlines())


def _is_msg_id(value: str) -> bool:
    return bool(value) and not any(c.isspace() or c in "<>" for c in value)


def send_notice(settings: OutboundEmailSettings, to: list[str], subject: str, text: str) -> None:
    """An internal email (a supervisor's breach notice) through the same relay; raises like `EmailSender.send`."""
    recipients = [recipient_address(address) for address in to]
    message = _text_mail(text, settings, ", ".join(recipients))
    message["Subject"] = _header(one_line(subject))
    message["Auto-Submitted"] = "auto-generated"
    message["Message-ID"] = make_msgid(idstring="helpline-notice", domain=settings.sender.rpartition("@")[2] or None)
    _deliver(settings, message, recipients)


def _deliver(settings: OutboundEmailSettings, message: Mail, recipients: list[str]) -> None:
    """Hand `message` to the relay for `recipients`; a refusal of any of them raises, 4xx transient, 5xx permanent.

    The connection is kept open for the next message (one per thread: a worker sends one reply at a time), so a
    burst of acknowledgements costs one connect, EHLO, STARTTLS and login rather than one per mail. A kept
    connection the relay has closed meanwhile fails on its first command: that send is tried once more on a new
    connection (were the relay to have taken the mail before the connection broke, the re-send carries the same
    Message-ID and mail clients show one message)."""
    try:
        for fresh in _connections_for(settings):
            smtp = fresh or _relay.connection(settings)
            try:
                # Envelope sender "<>" would be a bounce; use our address so DSNs about the message reach us.
                refused = smtp.send_message(message, from_addr=_sender_address(settings.sender), to_addrs=recipients)
                break
            except (smtplib.SMTPServerDisconnected, OSError):
                _relay.close()
                if fresh is not None:
                    raise
    except smtplib.SMTPNotSupportedError as exc:  # an address needs SMTPUTF8 and the relay does not offer it
        raise PermanentSendError(f"relay {settings.host}:{settings.port}: {exc}") from exc
    except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused
        raise _classify(*next(iter(exc.recipients.values()))) from exc
    except smtplib.SMTPResponseException as exc:  # sender refused, DATA refused, or any other error reply
        _relay.close()  # e.g. 421: the relay is closing; a fresh connection next time in any case
        raise _classify(exc.smtp_code, exc.smtp_error) from exc
    except (smtplib.SMTPException, OSError) as exc:
        _relay.close()
        raise TransientSendError(f"relay {settings.host}:{settings.port} unreachable: {exc}") from exc
    if refused:  # some recipients refused, the others accepted
        raise _classify(*next(iter(refused.values())))


def _connections_for(settings: OutboundEmailSettings) -> Iterator[smtplib.SMTP | None]:
    """The kept connection (None: use it) and, only if there was one, a new one for a second try."""
    if _relay.is_open(settings):
        yield None
    yield _relay.connect(settings)


class _RelayConnections(threading.local):
    """This thread's open connection to the relay, with the settings it was opened with; closed when it has been
    idle longer than `IDLE_SECONDS` (relays drop idle clients after a few minutes)."""

    IDLE_SECONDS = 60.0

    def __init__(self) -> None:
        self.smtp: smtplib.SMTP | None = None
        self.opened_for: OutboundEmailSettings | None = None
        self.last_used = 0.0

    def is_open(self, settings: OutboundEmailSettings) -> bool:
        if self.smtp is not None and (
            self.opened_for != settings or time.monotonic() - self.last_used > self.IDLE_SECONDS
        ):
            self.close()
        return self.smtp is not None

    def connection(self, settings: OutboundEmailSettings) -> smtplib.SMTP:
        assert self.smtp is not None and self.opened_for == settings
        self.last_used = time.monotonic()
        return self.smtp

    def connect(self, settings: OutboundEmailSettings) -> smtplib.SMTP:
        self.close()
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
        try:
            if settings.starttls:
                smtp.starttls()
            if settings.username and settings.password:
                smtp.login(settings.username, settings.password.get_secret_value())
        except BaseException:
            smtp.close()
            raise
        self.smtp, self.opened_for, self.last_used = smtp, settings, time.monotonic()
        return smtp

    def close(self) -> None:
        smtp, self.smtp, self.opened_for = self.smtp, None, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


_relay = _RelayConnections()


def _classify(code: int, text: bytes | str) -> PermanentSendError | TransientSendError:
    detail = text.decode(errors="replace") if isinstance(text, bytes) else text
    if 400 <= code < 500:
        return TransientSendError(f"relay answered {code} {detail}")
    return PermanentSendError(f"relay answered {code} {detail}")
