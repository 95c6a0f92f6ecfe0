"""`helpline explain MESSAGE_ID`: reads the stored message and prints router/explain.py's account of its decision."""

from __future__ import annotations

from typing import TextIO

from core.errors import StoreUnavailable
from core.redis_conn import connect
from core.settings import Settings
from core.store import Store
from record.engine import connect as connect_record
from record.messages import load_message
from router.explain import explain


def run_explain(settings: Settings, message_id: str, *, stdout: TextIO, stderr: TextIO) -> int:
    """The whole `helpline explain` command; returns its exit status (1 for an unknown id)."""
    record = connect_record(settings)
    try:
        # The hot copy, or once it expired the record's row (record/messages.py); nothing is written back.
        message = load_message(Store(connect(settings)), record, message_id)
    except StoreUnavailable as exc:
        stderr.write(f"error: {exc}\n")
        return 2
    finally:
        record.dispose()
    if message is None:
        stderr.write(f"error: no stored message has the id {message_id!r}\n")
        return 1
    stdout.write(explain(message) + "\n")
    return 0
