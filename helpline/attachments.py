"""An attachment's content for `helpline agent attachment`: what desk/files.py gives an agent (kept by Helpline, or
fetched from Telegram), or, for media a provider hosts (Twilio MMS and WhatsApp), its URL to fetch with the
account's credentials, which Helpline does not do for the agent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.envelope import Attachment
from core.settings import Settings
from core.store import Store

if TYPE_CHECKING:
    from sqlalchemy import Engine


class AttachmentUnavailable(Exception):
    """The attachment exists but its content cannot be had here (not kept, too large, the provider refused)."""


@dataclass(frozen=True)
class HostedElsewhere:
    """Content a provider hosts: fetch `url` with the account's credentials."""

    url: str


def attachment_of(store: Store, message_id: str, index: int, record: Engine | None = None) -> Attachment:
    """Attachment `index` (1 = the first) of a stored message (its hot copy, or the `record`'s once that expired);
    LookupError names what is missing."""
    from record.messages import load_message

    message = load_message(store, record, message_id)
    if message is None:
        raise LookupError(f"no message {message_id}")
    attachments = message.envelope.attachments
    if not 1 <= index <= len(attachments):
        raise LookupError(f"message {message_id} has {len(attachments)} attachment(s); there is no number {index}")
    return attachments[index - 1]


def fetch_attachment(settings: Settings, store: Store, message_id: str, index: int) -> bytes | HostedElsewhere:
    from record.engine import connect as connect_record

    record = connect_record(settings)
    try:
        attachment = attachment_of(store, message_id, index, record)
    finally:
        record.dispose()
    from desk.files import FileUnavailable, attachment_content
    from record.attachment_store import AttachmentGone, AttachmentStoreError

    try:
        content = attachment_content(settings, attachment)
    except AttachmentGone as exc:
        raise AttachmentUnavailable("the content is no longer kept (erased, or past its retention)") from exc
    except (AttachmentStoreError, FileUnavailable) as exc:  # the bucket or Telegram away or refusing: it says which
        raise AttachmentUnavailable(str(exc)) from exc
    if content is not None:
        return content
    if attachment.url:
        return HostedElsewhere(attachment.url)
    raise AttachmentUnavailable(
        f"the content was not kept ({attachment.size} bytes, over the size cap); the raw message holds it"
    )
