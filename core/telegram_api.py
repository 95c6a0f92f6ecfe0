"""What the Telegram intake (ingest/telegram) and the sender (channels/telegram.py) must agree on about the Bot API.

Both sides may import only core, so the shared facts live here: the update kinds Helpline asks Telegram for (the
webhook registration and getUpdates) and handles, and how to read the wait out of a 429 `RetryAfter`.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning

# Registered with setWebhook, asked for by getUpdates, and the only kinds normalisation parses.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")


def retry_seconds(exc: RetryAfter) -> float:
    """Telegram's wait in seconds: an int in PTB 22, a timedelta from PTB 23 (the int access warns meanwhile)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
