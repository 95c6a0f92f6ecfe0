"""`helpline explain WHAT`: prints router/explain.py's account of a stored message's decision. WHAT is a message id,
or anything that names cases (desk/lookup.py: a reference, a Message-ID, a provider id, an email address, a phone
number): then every matching case, and in each the named message or else every message, is explained."""

from __future__ import annotations

from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from core.errors import StoreUnavailable
from core.redis_conn import connect
from core.settings import Settings
from core.store import Store
from record.engine import connect as connect_record
from record.messages import load_message
from router.explain import explain


def run_explain(settings: Settings, what: str, *, stdout: TextIO, stderr: TextIO) -> int:
    """The whole `helpline explain` command; returns its exit status (1 when nothing matches). A message whose hot
    copy expired is read from the record's row (record/messages.py); nothing is written back."""
    from desk.context import desk_context
    from desk.lookup import find

    record = connect_record(settings)
    try:
        store = Store(connect(settings))
        message = load_message(store, record, what)
        if message is not None:
            stdout.write(explain(message) + "\n")
            return 0
        if what.startswith("m-"):
            stderr.write(f"error: no stored message has the id {what!r}\n")
            return 1
        matches = find(desk_context(settings, store), what)
        if not matches:
            stderr.write(f"error: no stored message or case matches {what!r}\n")
            return 1
        for match in matches:
            stdout.write(f"== case {match.reference} ({match.case_id}, {match.status}; matched by {match.how})\n")
            named = [match.message_id] if match.message_id else store.conversation(match.case_id)["messages"]
            for message_id in named:
                found = load_message(store, record, message_id)
                stdout.write((explain(found) if found else f"{message_id}: not in the store or the record") + "\n")
    except StoreUnavailable as exc:
        stderr.write(f"error: {exc}\n")
        return 2
    except SQLAlchemyError as exc:
        stderr.write(f"error: the record is unreachable: {exc}\n")
        return 2
    finally:
        record.dispose()
    return 0
