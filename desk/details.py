"""A case's transaction details: what its messages supplied, merged in order (an earlier value stays; a later
message fills what was missing), and what is still missing. Read from the messages' hot copies, where the pipeline
keeps each message's own finds (`extras["details"]`, router/details.py)."""

from __future__ import annotations

from core.store import Store
from desk.context import HasDesk


def merged_details(store: Store, message_ids: list[str]) -> tuple[dict[str, str], list[str]]:
    """(found, missing) over `message_ids` in order; missing is the first transactional message's list less what
    any message supplied ([] when none was transactional)."""
    found: dict[str, str] = {}
    missing: list[str] | None = None
    for message_id in message_ids:
        message = store.get_message(message_id)
        if message is None:
            continue
        extras = message.envelope.extras
        for key, value in (extras.get("details") or {}).items():
            found.setdefault(key, value)
        if missing is None and extras.get("missing_details") is not None:
            missing = list(extras["missing_details"])
    return found, [key for key in (missing or []) if key not in found]


def case_details(ctx: HasDesk, case_id: str) -> tuple[dict[str, str], list[str]]:
    return merged_details(ctx.store, ctx.store.conversation(case_id).get("messages", []))
