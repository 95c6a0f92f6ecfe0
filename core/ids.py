"""Time-ordered identifiers: they sort by creation time, which replay by time range and listings rely on.

Also the short reference customers quote for a conversation (`HL-9F3A2C1D4B7E`), made from its id here so that the
code that makes it (acknowledgements, answers) and the code that must recognise it (router/details.py: a customer
quoting it is not naming a transaction) share one format. Conversation ids carry 48 random bits (32 collide half
the time by ~77k cases; 48 by ~20 million), and the record keeps references unique: on the rare collision it gives
the newer conversation an `alternative_reference`. References of the older 8-digit form are still recognised.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time


def new_id(prefix: str, random_bytes: int = 4) -> str:
    """`m-0193c2a4b5f1-9f3a2c1d`: prefix, milliseconds since the epoch in hex, 32 random bits (by default)."""
    return f"{prefix}-{int(time.time() * 1000):012x}-{secrets.token_hex(random_bytes)}"


CONVERSATION_RANDOM_BYTES = 6


def new_conversation_id() -> str:
    """`t-0193c2a4b5f1-9f3a2c1d4b7e`: 48 random bits, which its reference is made of."""
    return new_id("t", CONVERSATION_RANDOM_BYTES)


REFERENCE_PREFIX = "HL-"
# The prefix and the 12 (formerly 8) upper-case hex digits of a conversation id's random part (see `new_id`).
REFERENCE_PATTERN = re.compile(rf"^{re.escape(REFERENCE_PREFIX)}(?:[0-9A-F]{{12}}|[0-9A-F]{{8}})$")


def conversation_reference(conversation_id: str) -> str:
    """The short reference customers quote: stable per conversation, readable over the phone."""
    return REFERENCE_PREFIX + conversation_id.rsplit("-", 1)[-1].upper()


def alternative_reference(conversation_id: str, attempt: int) -> str:
    """Another reference for a conversation whose own collided with an older one's: derived, so a retried write
    picks the same one."""
    digest = hashlib.sha256(f"{conversation_id}:{attempt}".encode()).hexdigest()
    return REFERENCE_PREFIX + digest[: 2 * CONVERSATION_RANDOM_BYTES].upper()


def is_our_reference(text: str) -> bool:
    return REFERENCE_PATTERN.match(text) is not None
