"""An attachment's content for an agent (the console's download, `helpline agent attachment`), from wherever
Helpline or the provider keeps it.

- Kept by Helpline: in the attachment store once the pipeline recorded the message (`ref`: a folder or an S3 bucket,
  record/attachment_store.py), in the hot copy (`content_b64`) until then.
- Telegram (`url = "telegram-file:<file_id>"`): only metadata is stored; the content is fetched now with `getFile`
  through `channels.telegram.fetch_file`, refused above `[telegram] max_file_bytes` before it is downloaded.
- Not kept: an email attachment over `[email] max_attachment_bytes` (the raw message still holds it), and media a
  provider hosts at an `https://` URL (Twilio MMS and WhatsApp), which must be fetched with the account's
  credentials: Helpline does not fetch it for the agent, so the credentials stay out of agents' hands.
"""

from __future__ import annotations

import base64
import binascii

from core.envelope import Attachment
from core.settings import Settings
from record.attachment_store import open_attachment_store

TELEGRAM_FILE = "telegram-file:"  # ingest/telegram/normalize.py writes it


class FileUnavailable(Exception):
    """The provider holds the content and does not give it now (too large, no bot token here, refused, away)."""


def downloadable(attachment: Attachment) -> bool:
    """Whether an agent can have the content: kept by Helpline, or fetched from Telegram on demand."""
    kept = attachment.ref is not None or (attachment.content_b64 is not None and not attachment.truncated)
    return kept or (attachment.url or "").startswith(TELEGRAM_FILE)


def attachment_content(settings: Settings, attachment: Attachment) -> bytes | None:
    """The attachment's content, or None when nobody here has it (not kept, or hosted by a provider at `url`).
    The attachment store's errors pass through (`AttachmentGone`: erased or past retention;
    `AttachmentStoreError`); Telegram's are `FileUnavailable`."""
    url = attachment.url or ""
    if url.startswith(TELEGRAM_FILE):
        return _telegram(settings, url.removeprefix(TELEGRAM_FILE))
    if attachment.ref is not None:
        return open_attachment_store(settings).get(attachment.ref)
    if attachment.content_b64 is not None and not attachment.truncated:
        try:
            return base64.b64decode(attachment.content_b64, validate=True)
        except binascii.Error:
            return None
    return None


def _telegram(settings: Settings, file_id: str) -> bytes:
    from telegram.error import TelegramError

    from channels.telegram import FileTooLarge, TelegramNotConfigured, fetch_file

    try:
        return fetch_file(settings.telegram, file_id)
    except (FileTooLarge, TelegramNotConfigured) as exc:
        raise FileUnavailable(str(exc)) from exc
    except TelegramError as exc:  # an expired or unknown file id, the Bot API unreachable
        raise FileUnavailable(f"telegram: {exc.message}") from exc
