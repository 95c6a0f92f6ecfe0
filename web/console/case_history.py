"""A case's history as the case view shows it: desk/view.py's `case_view` and the case's stored messages, shaped
into one list in time order (customer messages on every channel, and our replies with their delivery state), plus
what each message carries for an agent: its email HTML made safe (web/console/mail_html.py), its files, a voice
message's recording and transcript state, and the routing decision with its trace in words (router/explain.py)."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from core.records import StoredMessage
from desk.context import HasDesk
from desk.files import FileUnavailable, attachment_content, downloadable
from record.attachment_store import AttachmentStoreError
from router.explain import explain
from web.console.mail_html import MailHtml, safe_mail_html

log = logging.getLogger("helpline.web.console")

INLINE_IMAGE_BYTES = 2_000_000  # a bigger inline image is listed as a file, not drawn into the mail
CHANGING_STATES = ("queued", "sent")  # a reply in one of these may still move (to sent, delivered or failed)


@dataclass(frozen=True)
class FileLink:
    filename: str
    content_type: str
    size: int
    inline: bool
    href: str | None  # the console's download route, when Helpline keeps the content
    hosted: str | None  # media a provider hosts (a Twilio recording, MMS media): its URL


@dataclass(frozen=True)
class MessageEntry:
    id: str
    at: datetime
    channel: str
    sender: str
    sender_name: str | None
    subject: str
    text: str
    language: str
    html: MailHtml | None
    images_shown: bool
    files: list[FileLink]
    voice: dict[str, str]  # recording duration, transcription state: what the voice adapter recorded
    decision: dict[str, Any] | None
    trace: str  # the routing decision and its trace, in words
    notes: list[str]
    kind: str = "message"


@dataclass(frozen=True)
class ReplyEntry:
    id: str
    at: datetime
    channel: str
    purpose: str  # acknowledgement, answer, survey...
    state: str  # queued, sent, delivered, failed
    text: str
    kind: str = "reply"


@dataclass(frozen=True)
class History:
    view: dict[str, Any]  # desk/view.py's case_view, as it is
    entries: list[MessageEntry | ReplyEntry]
    open_replies: list[str] = field(default_factory=list)  # replies whose state may still change (the live watch)


def build_history(
    ctx: HasDesk, view: dict[str, Any], messages: list[StoredMessage], *, file_href: str, images_for: str | None
) -> History:
    """`file_href`: the download route's prefix (`…/files`); `images_for`: the message whose remote images the agent
    asked to see (or "all")."""
    entries: list[MessageEntry | ReplyEntry] = [
        _message(ctx, m, file_href, images_for in ("all", m.id)) for m in messages
    ]
    for reply in view["replies"]:
        entries.append(
            ReplyEntry(reply["id"], datetime.fromisoformat(reply["at"]), reply["channel"], reply["purpose"],
                       reply["state"], reply["text"])
        )  # fmt: skip
    entries.sort(key=lambda e: e.at)
    waiting = [r["id"] for r in view["replies"] if r["state"] in CHANGING_STATES]
    return History(view, entries, waiting)


def _message(ctx: HasDesk, message: StoredMessage, file_href: str, show_images: bool) -> MessageEntry:
    envelope = message.envelope
    files, inline = [], {}
    for index, attachment in enumerate(envelope.attachments, start=1):
        kept = downloadable(attachment)
        files.append(
            FileLink(
                attachment.filename or f"file-{index}", attachment.content_type, attachment.size, attachment.inline,
                f"{file_href}/{quote(message.id)}/{index}" if kept else None,
                attachment.url if attachment.url and attachment.url.startswith(("https://", "http://")) else None,
            )
        )  # fmt: skip
        drawn = attachment.content_id and attachment.content_type.startswith("image/")
        if kept and drawn and attachment.size <= INLINE_IMAGE_BYTES:
            content = _content(ctx, message, index)
            if content is not None and attachment.content_id:
                encoded = base64.b64encode(content).decode("ascii")
                inline[attachment.content_id.strip("<>")] = f"data:{attachment.content_type};base64,{encoded}"
    raw_html = envelope.extras.get("html")
    html = safe_mail_html(raw_html, show_images=show_images, inline=inline) if isinstance(raw_html, str) else None
    voice = {
        key: str(envelope.extras[key])
        for key in ("recording_duration", "transcription_status")
        if envelope.extras.get(key) not in (None, "")
    }
    decision = message.decision.model_dump(mode="json", exclude={"trace"}) if message.decision else None
    return MessageEntry(
        message.id, envelope.received_at, envelope.channel.value, envelope.sender.address, envelope.sender.name,
        envelope.subject, envelope.text, envelope.language, html, show_images, files, voice, decision,
        explain(message), list(message.notes),
    )  # fmt: skip


def _content(ctx: HasDesk, message: StoredMessage, index: int) -> bytes | None:
    try:
        return attachment_content(ctx.settings, message.envelope.attachments[index - 1])
    except (LookupError, AttachmentStoreError, FileUnavailable) as exc:  # gone, or away: the image is not drawn
        log.info("inline image %s/%s not shown: %s", message.id, index, exc)
        return None
