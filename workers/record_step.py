"""The pipeline writes the system of record: one transaction per job, before the message reaches agents and before
any reply is queued.

The pipeline's `record` step (after routing and details, before filing) calls `record_routed`: it writes the
message with its contact, conversation and thread references. A message the record already holds under another id
(accepted twice: its dedupe key expired, a failover lost it) is dropped there, so agents never see it twice and it
is never acknowledged twice. `record_dropped` keeps messages the pipeline dropped, with the reason, for audit.

Re-running a job writes nothing twice (record/writer.py: every insert is keyed by an id the hot store gave).
Attachments' content goes to the attachment store once the transaction has committed (record/attachments.py), and
leaves the hot copy with the routed message's write (`Recorded`); that write also starts the `[retention]`
lifetimes of the message's raw payload, dedupe key and hot copy in Redis (one MULTI, one fsync).
The SMTP and webhook answers never wait for this: it runs in the worker, long after the `250`/`200`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

from redis.client import Pipeline
from sqlalchemy import Connection, select

from core.envelope import Attachment, Channel, Decision
from core.identity import identity_of
from core.records import MessageState, StoredMessage, utcnow
from record.attachments import ToWrite, contact_salt, message_salt, record_attachments
from record.engine import autocommitting
from record.erase import ErasurePlan
from record.erase_hot import erase_hot, erased_before
from record.hot_copy import routed_entries
from record.models import Contact
from record.writer import entry_for, write_message
from router.normalize import normalize
from workers.context import Context


def record_routed(ctx: Context, message: StoredMessage, outcome: Routed) -> Recorded | str:
    """Write a routed message in one transaction, then its attachments' content to the attachment store; returns
    what the routed message's write in Redis carries from here (`Recorded`), or why the pipeline must drop it
    instead (it was accepted twice and the record holds it under another id; its sender's data was erased after it
    arrived)."""
    envelope = message.envelope
    entries = routed_entries(
        ctx.store,
        outcome.contact_id,
        outcome.conversation_id,
        sender_identity=identity_of(envelope.channel, envelope.sender.address),
        received_at=envelope.received_at,
    )
    if entries.sender_erased:
        _forget_new_copies(ctx, outcome)
        return ERASED
    message = message.model_copy(
        update={
            "state": MessageState.ROUTED,
            "contact_id": outcome.contact_id,
            "conversation_id": outcome.conversation_id,
            "decision": outcome.decision,
            "notes": [*message.notes, *outcome.notes],
        }
    )
    references = [envelope.message_id] if envelope.channel is Channel.EMAIL and envelope.message_id else []
    entry = entry_for(
        message, normalize, contact=entries.contact, conversation=entries.conversation, thread_references=references
    )
    now = utcnow()
    kept: list[Attachment] = []
    files: list[ToWrite] = []
    with _writing(ctx, message) as connection:
        written = write_message(connection, entry, now)
        if written.duplicate_of is None and envelope.attachments:
            salt = contact_salt(connection, outcome.contact_id)
            kept, files = record_attachments(connection, message, salt, now)
    if written.duplicate_of is not None:  # dropped: its record_dropped starts the hot copies' retention
        return f"accepted again under a new id: the record holds it as {written.duplicate_of}"
    for file in files:
        ctx.attachments.put(file.ref, file.content)
    return Recorded(kept if envelope.attachments else None)


@dataclass(frozen=True)
class Recorded:
    """What the routed message's write in Redis (workers/jobs.py, one MULTI with its acknowledgement's plan) carries
    once the record holds the message: its attachments as the hot copy keeps them from now (metadata and `ref`, the
    content in the attachment store; None: unchanged), and the start of its hot copies' retention (`retain`). A
    crash before that write leaves the content in Redis and no expiry set; the job's re-run writes both."""

    attachments: list[Attachment] | None

    def change(self, message: StoredMessage) -> None:
        if self.attachments is not None:
            message.envelope.attachments = self.attachments

    def retain(self, ctx: Context, message: StoredMessage, pipe: Pipeline) -> None:
        start_retention(ctx, message, pipe)


@dataclass(frozen=True)
class Routed:
    """What the pipeline found out about a message by the time it is recorded."""

    contact_id: str
    conversation_id: str
    decision: Decision
    notes: list[str]


def record_dropped(message: StoredMessage, ctx: Context) -> None:
    """A dropped message, kept with its reason (no contact or conversation: it never got that far). One whose
    sender's data was erased after it arrived is not kept at all: its hot copies go too."""
    if _erased(ctx, message):
        envelope = message.envelope
        plan = ErasurePlan("", [], message_ids=[message.id], dedupe_keys=[envelope.dedupe_key],
                           senders=[(envelope.channel.value, envelope.sender.address)])  # fmt: skip
        erase_hot(ctx.store, plan, [])
        return
    now = utcnow()
    kept: list[Attachment] = []
    files: list[ToWrite] = []
    with _writing(ctx, message) as connection:
        written = write_message(connection, entry_for(message, normalize), now)
        if written.duplicate_of is None and message.envelope.attachments:
            kept, files = record_attachments(connection, message, message_salt(message.id), now)
    if written.duplicate_of is None and message.envelope.attachments:
        store_attachment_files(ctx, message.id, kept, files)
    start_retention(ctx, message)


def store_attachment_files(ctx: Context, message_id: str, kept: list[Attachment], files: list[ToWrite]) -> None:
    """After the record's commit: write the content to the attachment store, then drop it from the hot copy (which
    keeps the metadata and `ref`). A crash in between leaves the content in Redis, and the job's re-run writes it; a
    store that is away (AttachmentStoreUnavailable) pauses the job like an unreachable record."""
    for file in files:
        ctx.attachments.put(file.ref, file.content)

    def drop_content(stored: StoredMessage) -> None:
        stored.envelope.attachments = kept

    ctx.store.update_message(message_id, drop_content)


ERASED = "its sender's data was erased after it arrived (helpline contact erase)"


def _writing(ctx: Context, message: StoredMessage) -> AbstractContextManager[Connection]:
    """The connection a message's write runs on: without attachments the write is one statement and needs no
    transaction of its own (record/engine.py `autocommitting`); with them its attachment rows and the contact's salt
    commit with it."""
    return ctx.record.begin() if message.envelope.attachments else autocommitting(ctx.record)


def _erased(ctx: Context, message: StoredMessage) -> bool:
    envelope = message.envelope
    return erased_before(ctx.store, identity_of(envelope.channel, envelope.sender.address), envelope.received_at)


def _forget_new_copies(ctx: Context, outcome: Routed) -> None:
    """What the pipeline made in Redis for a message of an erased sender before the record step stopped it: a
    conversation holding nothing else, and a contact the record does not know (the erased one had its keys removed,
    so the pipeline made a new one). The message's own copies go when the job records it as dropped."""
    conversation = ctx.store.conversation(outcome.conversation_id)
    with ctx.record.connect() as connection:
        known = connection.scalar(select(Contact.id).where(Contact.id == outcome.contact_id)) is not None
    contact = ctx.store.contact(outcome.contact_id)
    plan = ErasurePlan(
        "" if known else outcome.contact_id,
        [] if known else contact.get("identities", "").split(),
        conversation_ids=[outcome.conversation_id] if len(conversation["messages"]) <= 1 else [],
    )
    erase_hot(ctx.store, plan, [])


def start_retention(ctx: Context, message: StoredMessage, pipe: Pipeline | None = None) -> None:
    """Once the record holds the message (the transaction has committed), its hot copies start their retention: the
    raw payload, the dedupe key and `msg:{id}` itself (readers then find it in the record: record/messages.py). With
    `pipe`, in the caller's MULTI."""
    retention = ctx.settings.retention
    ctx.store.start_retention(
        [(message.id, message.envelope.dedupe_key)],
        int(retention.raw_payload_days * 86400),
        int(retention.dedupe_key_days * 86400),
        int(retention.hot_message_days * 86400),
        pipe=pipe,
    )
