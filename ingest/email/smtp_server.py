"""The inbound SMTP server (aiosmtpd): mail for the support addresses, stored before it is acknowledged.

Answers, in the order a client meets them:
    RCPT  550 5.1.1  not one of `[email.inbound] addresses`
    DATA  500        a line longer than `max_line_bytes` (1 MiB by default: RFC 5321's 1,000 octets is the least a
                     server must take, and real mailers write longer lines, which Postfix and the big providers take)
          552        over `max_message_bytes` (aiosmtpd enforces it, and EHLO advertises SIZE)
          554 5.6.0  an empty message
          451 4.3.0  the store is unavailable: the sending MTA keeps the mail and retries
          250        stored (or stored before: a duplicate Message-ID), and only then

A message the parser cannot read is not refused: it is kept raw as a dead letter (`helpline replay` re-runs it
after the fix) and answered 250, because the fault is ours and a bounce would tell the customer the wrong thing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from core.errors import StoreUnavailable
from core.redis_conn import connect
from core.settings import Settings
from core.store import Store
from ingest.email.intake import take_in

log = logging.getLogger("helpline.smtp")


class SupportMailHandler:
    """aiosmtpd handler: only the hooks we need (RCPT and DATA)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.addresses = {a.lower() for a in settings.email.inbound.addresses}

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: SmtpEnvelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() not in self.addresses:
            return f"550 5.1.1 <{address}>: no such support address here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        if not raw.strip():
            return "554 5.6.0 Empty message"
        try:
            return await asyncio.to_thread(self._store, raw, envelope.mail_from or "", list(envelope.rcpt_tos))
        except StoreUnavailable as exc:
            log.warning("store unavailable, answering 451: %s", exc)
            return "451 4.3.0 Temporarily unable to store the message; please retry"

    def _store(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> str:
        intake = take_in(self.store, self.settings, raw, {"mail_from": mail_from, "rcpt_tos": rcpt_tos})
        if intake.dead_letter:
            return f"250 2.0.0 Kept for review as {intake.id}"
        if intake.duplicate:
            return f"250 2.0.0 Already received as {intake.id}"
        return f"250 2.0.0 Stored as {intake.id}"


# How aiosmtpd read MAIL FROM and RCPT TO arguments, by argument and local-part limit (`_SupportSMTP._getaddr`):
# shared by every connection, used from the server's one event loop thread.
_ADDRESSES_KEPT = 10_000
_ADDRESSES: dict[tuple[str, int], tuple[str | None, str | None]] = {}


class _SupportSMTP(SMTP):
    """aiosmtpd's SMTP with our line limit (aiosmtpd has it as a class attribute, 1,001 with the CRLF, read when the
    connection's StreamReader is made, so it is set on the instance before that) and its addresses remembered."""

    def __init__(self, handler: SupportMailHandler, *, line_length_limit: int, **kwargs: Any) -> None:
        self.line_length_limit = line_length_limit + 2  # the limit counts the line's CRLF
        super().__init__(handler, **kwargs)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's reading of a MAIL FROM or RCPT TO argument, remembered: it runs the email package's header
        parser (and defines a class) every time, a tenth of this server's CPU, for arguments that repeat: every
        RCPT TO names a support address, and a customer writes again. Same answers, bar the work."""
        key = (arg, self.local_part_limit)
        known = _ADDRESSES.get(key)
        if known is None:
            known = super()._getaddr(arg)
            if len(_ADDRESSES) >= _ADDRESSES_KEPT:
                _ADDRESSES.clear()  # bounded; starting over costs one parse per address
            _ADDRESSES[key] = known
        return known


class _SupportController(Controller):
    def __init__(self, handler: SupportMailHandler, *, line_length_limit: int, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.line_length_limit = line_length_limit

    def factory(self) -> SMTP:
        return _SupportSMTP(self.handler, line_length_limit=self.line_length_limit, **self.SMTP_kwargs)


def controller(settings: Settings, store: Store, *, port: int | None = None) -> Controller:
    inbound = settings.email.inbound
    return _SupportController(
        SupportMailHandler(settings, store),
        line_length_limit=inbound.max_line_bytes,
        hostname=inbound.host,
        # The name in the greeting, looked up once: aiosmtpd would call socket.getfqdn() for every connection, a
        # resolver round trip in the event loop that every other connection waits for.
        server_hostname=socket.getfqdn(),
        port=inbound.port if port is None else port,
        data_size_limit=inbound.max_message_bytes,
        decode_data=False,
    )


def serve(settings: Settings) -> None:
    # Block the signals before the server thread starts so that only sigwait() below receives them.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    smtp = controller(settings, Store(connect(settings)))
    smtp.start()
    log.info("SMTP listening on %s:%s for %s", smtp.hostname, smtp.port, ", ".join(settings.email.inbound.addresses))
    stop = _wait_for_signal()
    smtp.stop()
    log.info("SMTP stopped (%s)", stop)


def _wait_for_signal() -> str:
    """Block until SIGINT or SIGTERM; return its name."""
    received = signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return signal.Signals(received).name
