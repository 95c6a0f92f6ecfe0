"""Time-ordered identifiers: they sort by creation time, which replay by time range and listings rely on.

Also the short reference customers quote for a conversation (`HL-9F3A2C1D`), made from its id here so that the
code that makes it (acknowledgements, answers) and the code that must recognise it (router/details.py: a customer
quoting it is not naming a transaction) share one format.
"""

from __future__ import annotations

import re
import secrets
import time


def new_id(prefix: str) -> str:
    """`m-0193c2a4b5f1-9f3a2c1d`: prefix, milliseconds since the epoch in hex, 32 random bits."""
    return f"{prefix}-{int(time.time() * 1000):012x}-{secrets.token_hex(4)}"


REFERENCE_PREFIX = "HL-"
# The prefix and the 8 upper-case hex digits of a conversation id's random part (see `new_id`).
REFERENCE_PATTERN = re.compile(rf"^{re.escape(REFERENCE_PREFIX)}[0-9A-F]{{8}}$")


def conversation_reference(conversation_id: str) -> str:
    """The short reference customers quote: stable per conversation, readable over the phone."""
    return REFERENCE_PREFIX + conversation_id.rsplit("-", 1)[-1].upper()


def is_our_reference(text: str) -> bool:
    return REFERENCE_PATTERN.match(text) is not None
