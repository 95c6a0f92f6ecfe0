"""An attachment's content for an agent (`helpline agent attachment`), from wherever its channel keeps it.

- Telegram (`url = "telegram-file:<file_id>"`): only metadata is stored; the content is fetched now with `getFile`
  through `channels.telegram.fetch_file`, refused above `[telegram] max_file_bytes` before it is downloaded.
- Email: the content was kept when it was under `[email] max_attachment_bytes`: in the attachment store (a folder
  or an S3 bucket, record/attachment_store.py) once the pipeline recorded the message (`ref`), in the hot copy
  (`content_b64`) until then; a larger one was kept as metadata only (the raw message still holds it).
- Media a provider hosts (Twilio MMS and WhatsApp media URLs): the URL, which must be fetched with the account's
  credentials (Twilio answers media requests with HTTP basic auth of the account SID and auth token). Helpline does
  not fetch it for the agent, so the credentials stay out of agents' hands and out of this command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.envelope import Attachment
from core.settings import Settings
from core.store import Store

if TYPE_CHECKING:
    from sqlalchemy import Engine

TELEGRAM_FILE = "telegram-file:"


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
    url = attachment.url or ""
    if url.startswith(TELEGRAM_FILE):
        return _telegram(settings, url.removeprefix(TELEGRAM_FILE))
    from desk.view import attachment_content
    from record.attachment_store import AttachmentGone, AttachmentStoreError

    try:
        content = attachment_content(settings, attachment)
    except AttachmentGone as exc:
        raise AttachmentUnavailable("the content is no longer kept (erased, or past its retention)") from exc
    except AttachmentStoreError as exc:  # the bucket away or refusing: its message says which
        raise AttachmentUnavailable(str(exc)) from exc
    if content is not None:
        return content
    if url:
        return HostedElsewhere(url)
    raise AttachmentUnavailable(
        f"the content was not kept ({attachment.size} bytes, over the size cap); the raw message holds it"
    )


def _telegram(settings: Settings, file_id: str) -> bytes:
    from telegram.error import TelegramError

    from channels.telegram import FileTooLarge, TelegramNotConfigured, fetch_file

    try:
        return fetch_file(settings.telegram, file_id)
    except (FileTooLarge, TelegramNotConfigured) as exc:
        raise AttachmentUnavailable(str(exc)) from exc
    except TelegramError as exc:  # an expired or unknown file id, the Bot API unreachable
        raise AttachmentUnavailable(f"telegram: {exc.message}") from exc
