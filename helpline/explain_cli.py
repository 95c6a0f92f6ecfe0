"""`helpline explain MESSAGE_ID`: reads the stored message and prints router/explain.py's account of its decision."""

from __future__ import annotations

from typing import TextIO

from core.errors import StoreUnavailable
from core.redis_conn import connect
from core.settings import Settings
from core.store import Store
from router.explain import explain


def run_explain(settings: Settings, message_id: str, *, stdout: TextIO, stderr: TextIO) -> int:
    """The whole `helpline explain` command; returns its exit status (1 for an unknown id)."""
    try:
        message = Store(connect(settings)).get_message(message_id)
    except StoreUnavailable as exc:
        stderr.write(f"error: {exc}\n")
        return 2
    if message is None:
        stderr.write(f"error: no stored message has the id {message_id!r}\n")
        return 1
    stdout.write(explain(message) + "\n")
    return 0
