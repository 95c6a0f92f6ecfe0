"""Attachments' content in the attachment store, referenced from the record (`attachments` table, and `ref` on
the hot copy).

The pipeline's record step (workers/record_step.py), never the `250`/`200` path, writes each attachment whose
content the hot copy holds (`content_b64`, already masked by core/content_gate.py) to the attachment store (a
folder or an S3 bucket: record/attachment_store.py), then drops the content from the hot copy, keeping its metadata
and `ref`.

A file's name is the SHA-256 of its owner's salt and its masked content: the same file sent twice by one contact is
one file, and the same file sent by two contacts is two, so erasing one contact never removes another's file. The
owner is the message's contact (a random salt kept on the contact row, made on its first attachment) or, for a
message the pipeline dropped before it had a contact, the message itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects.postgresql import insert

from core.envelope import Attachment
from core.records import StoredMessage
from record.models import AttachmentRow, Contact


def attachment_ref(salt: bytes, content: bytes) -> str:
    return hashlib.sha256(salt + content).hexdigest()


def contact_salt(connection: Connection, contact_id: str) -> bytes:
    """The contact's salt, made on first use (in the caller's transaction, so a rolled-back one leaves none)."""
    salt = connection.scalar(
        update(Contact)
        .where(Contact.id == contact_id)
        .values(attachment_salt=func.coalesce(Contact.attachment_salt, secrets.token_bytes(16)))
        .returning(Contact.attachment_salt)
    )
    if salt is None:
        raise LookupError(f"contact {contact_id} is not in the record")
    return bytes(salt)


def message_salt(message_id: str) -> bytes:
    """The salt of a message with no contact (dropped before it had one): the message is the file's only owner."""
    return f"message:{message_id}".encode()


@dataclass(frozen=True)
class ToWrite:
    ref: str
    content: bytes


def record_attachments(
    connection: Connection, message: StoredMessage, salt: bytes, now: datetime
) -> tuple[list[Attachment], list[ToWrite]]:
    """Insert the message's attachment rows (once: a re-run leaves them as they are) and return its attachments as
    the hot copy should keep them (content dropped, `ref` set) with the files to write once the transaction has
    committed. Content that is not valid base64 is not kept (the raw payload still holds it)."""
    kept: list[Attachment] = []
    files: list[ToWrite] = []
    for position, attachment in enumerate(message.envelope.attachments):
        ref = attachment.ref
        if attachment.content_b64 is not None and not attachment.truncated:
            try:
                content = base64.b64decode(attachment.content_b64, validate=True)
            except binascii.Error:
                content = None
            if content is not None:
                ref = attachment_ref(salt, content)
                files.append(ToWrite(ref, content))
        kept.append(attachment.model_copy(update={"content_b64": None, "ref": ref}))
        connection.execute(
            insert(AttachmentRow)
            .values(
                message_id=message.id,
                position=position,
                filename=attachment.filename,
                content_type=attachment.content_type,
                size=attachment.size,
                ref=ref,
                stored_at=now,
            )
            .on_conflict_do_nothing()
        )
    return kept, files


def refs_in_use(connection: Connection, refs: list[str]) -> set[str]:
    """Which of `refs` a row still points at (a file is removed only when none does)."""
    if not refs:
        return set()
    return set(connection.scalars(select(AttachmentRow.ref).where(AttachmentRow.ref.in_(refs))))
