"""An SMTP relay stand-in: a real aiosmtpd server that keeps what it is sent, and can be told to refuse."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.ports import free_port


@dataclass
class SinkMessage:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    received_at: float = field(default_factory=time.monotonic)  # for bench/bench_latency.py: when the ack arrived

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    messages: list[SinkMessage] = field(default_factory=list)
    refuse_with: str | None = None
    refuse_recipients: dict[str, str] = field(default_factory=dict)  # address -> the RCPT reply refusing it
    hold_recipients: dict[str, float] = field(default_factory=dict)  # address -> seconds RCPT TO waits to answer
    rcpts_seen: list[str] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        with self.arrived:
            self.rcpts_seen.append(address)
            self.arrived.notify_all()
        hold = self.hold_recipients.pop(address, None)  # once: a slow relay, the client waits mid-transaction
        if hold is not None:
            await asyncio.sleep(hold)
        if address in self.refuse_recipients:
            return self.refuse_recipients[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_with:
            return self.refuse_with
        with self.arrived:
            self.messages.append(SinkMessage(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            self.arrived.notify_all()
        return "250 2.0.0 Accepted"


class SmtpSink:
    def __init__(self) -> None:
        self.handler = _Handler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[SinkMessage]:
        return self.handler.messages

    def refuse(self, reply: str | None) -> None:
        self.handler.refuse_with = reply

    def refuse_recipient(self, address: str, reply: str) -> None:
        """Answer RCPT TO:<address> with `reply` (e.g. "550 5.1.1 no such user"); other recipients are taken."""
        self.handler.refuse_recipients[address] = reply

    def hold_recipient(self, address: str, seconds: float) -> None:
        """Answer the next RCPT TO:<address> only after `seconds`: a sender caught then has delivered nothing."""
        self.handler.hold_recipients[address] = seconds

    def wait_for_rcpt(self, address: str, timeout: float = 10.0) -> bool:
        with self.handler.arrived:
            return self.handler.arrived.wait_for(lambda: address in self.handler.rcpts_seen, timeout)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[SinkMessage]:
        with self.handler.arrived:
            self.handler.arrived.wait_for(lambda: len(self.handler.messages) >= count, timeout)
        return list(self.handler.messages)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
