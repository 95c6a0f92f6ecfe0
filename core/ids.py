"""Time-ordered identifiers: they sort by creation time, which replay by time range and listings rely on."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    """`m-0193c2a4b5f1-9f3a2c1d`: prefix, milliseconds since the epoch in hex, 32 random bits."""
    return f"{prefix}-{int(time.time() * 1000):012x}-{secrets.token_hex(4)}"
