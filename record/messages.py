"""Reading a message whose hot copy has left Redis: one read path for every reader of old messages.

Once the record holds a message, its hot copy `msg:{id}` expires after `retention.hot_message_days`
(workers/record_step.py). `load_message` reads the hot copy, and when it is gone rebuilds the `StoredMessage` from
the record's `messages` row (and its attachments' refs); with `warm_seconds` it puts the rebuilt copy back in Redis
for that long, so a writer's updates that follow (an agent's notes, a resolution, the send job of an answer) find it.

What the record does not keep, a rebuilt message does not have: `ack_status`, the recipient's display name,
attachments' content (on disk, by `ref`), and notes added to the hot copy after it was recorded that no
record-update job carried over. `stored_at` becomes the time received.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import OperationalError

from core.envelope import Decision, Envelope
from core.errors import StoreUnavailable
from core.records import MessageState, StoredMessage
from core.store import Store
from record.models import AttachmentRow, Message


def load_message(
    store: Store, record: Engine | None, message_id: str, *, warm_seconds: int = 0
) -> StoredMessage | None:
    """The message from its hot copy, else from the record (None when neither holds it). `warm_seconds` > 0 puts a
    rebuilt copy back in Redis for that long. An unreachable record is `StoreUnavailable`, like Redis."""
    message = store.get_message(message_id)
    if message is not None or record is None:
        return message
    try:
        with record.connect() as connection:
            message = recorded_message(connection, message_id)
    except OperationalError as exc:
        raise StoreUnavailable(f"the record is unreachable: {exc.orig}") from exc
    if message is None or warm_seconds <= 0:
        return message
    return store.restore_message(message, warm_seconds) or message


def load_messages(store: Store, record: Engine | None, message_ids: list[str]) -> dict[str, StoredMessage]:
    """Many messages for a reader (a report, a replay, the training history): hot copies, and the rest from the
    record in one query per thousand; nothing is written back. Ids neither holds are left out."""
    found = {message_id: store.get_message(message_id) for message_id in message_ids}
    messages = {message_id: message for message_id, message in found.items() if message is not None}
    missing = [message_id for message_id, message in found.items() if message is None]
    if not missing or record is None:
        return messages
    try:
        with record.connect() as connection:
            for start in range(0, len(missing), 1000):
                messages |= recorded_messages(connection, missing[start : start + 1000])
    except OperationalError as exc:
        raise StoreUnavailable(f"the record is unreachable: {exc.orig}") from exc
    return messages


def recorded_messages(connection: Connection, message_ids: list[str]) -> dict[str, StoredMessage]:
    rows = connection.execute(select(Message.__table__).where(Message.id.in_(message_ids))).all()
    refs: dict[str, dict[int, str | None]] = {}
    for found in connection.execute(
        select(AttachmentRow.message_id, AttachmentRow.position, AttachmentRow.ref).where(
            AttachmentRow.message_id.in_(message_ids)
        )
    ):
        refs.setdefault(found.message_id, {})[found.position] = found.ref
    return {row.id: message_from_row(row._mapping, refs.get(row.id)) for row in rows}


def recorded_message(connection: Connection, message_id: str) -> StoredMessage | None:
    """The record's message rebuilt as the hot copy it was recorded from (module docstring: what is missing)."""
    row = connection.execute(select(Message.__table__).where(Message.id == message_id)).first()
    if row is None:
        return None
    refs = dict(
        connection.execute(
            select(AttachmentRow.position, AttachmentRow.ref).where(AttachmentRow.message_id == message_id)
        ).all()
    )
    return message_from_row(row._mapping, refs)


def message_from_row(row: Any, refs: dict[int, str | None] | None = None) -> StoredMessage:
    """The inverse of record/writer.py's `message_row`."""
    fields = dict(row["metadata"])
    extras = dict(fields.pop("extras", {}))
    if row["html"] is not None:
        extras["html"] = row["html"]
    if row["details"] is not None:
        extras["details"] = row["details"].get("found", {})
        extras["missing_details"] = row["details"].get("missing", [])
    for position, attachment in enumerate(fields.get("attachments", [])):
        attachment["ref"] = (refs or {}).get(position, attachment.get("ref"))
    envelope = Envelope.model_validate(
        {
            **fields,
            "extras": extras,
            "channel": row["channel"],
            "provider_id": row["provider_id"],
            "received_at": row["received_at"],
            "sender": {"address": row["sender"], "name": row["sender_name"]},
            "recipient": {"address": row["recipient"]} if row["recipient"] is not None else None,
            "subject": row["subject"],
            "text": row["text"],
            "language": row["language"],
        }
    )
    decision = None
    if row["decision"] is not None:
        decision = Decision.model_validate({**row["decision"], "trace": row["trace"] or []})
    return StoredMessage(
        id=row["id"],
        envelope=envelope,
        state=MessageState(row["state"]),
        contact_id=row["contact_id"],
        conversation_id=row["conversation_id"],
        decision=decision,
        drop_reason=row["drop_reason"],
        notes=list(row["notes"]),
        stored_at=row["received_at"],
    )
