"""The one protocol every outbound channel implements.

A sender turns a `Reply` into a provider call and returns the provider's id for it. It raises
`TransientSendError` (retry later, maybe after `retry_after`) or `PermanentSendError` (record and stop);
anything else is a bug and surfaces as a failed job.
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
