"""The one protocol every outbound channel implements.

A sender turns a `Reply` into a provider call and returns the provider's id for it. It raises
`PermanentSendError` for input the provider can never take (record and stop) and `TransientSendError` for the
rest (retry later, maybe after `retry_after`). Anything else is a bug; `send_reply` treats it as transient (logged
with its traceback) until the attempts run out, so a reply never stays queued.
"""

from __future__ import annotations

from typing import Protocol

from core.envelope import Envelope
from core.records import Reply


class Sender(Protocol):
    def send(self, reply: Reply, original: Envelope) -> str:
        """Send `reply` to the sender of `original` through the channel it came from.

        `original` carries what a channel needs to answer in place: the email Message-ID and References, the
        Twilio number the customer wrote to, the Telegram chat and message id. Return the provider's id for the
        sent message (SMTP Message-ID, Twilio SID, Telegram message id).
        """
        ...
