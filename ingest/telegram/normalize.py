"""Telegram `Update` payloads -> what Helpline does with them. Pure: no network, no store.

Payload reference: https://core.telegram.org/bots/api#update. The fields read are validated first by the pydantic
models of ingest/telegram/update_model.py (python-telegram-bot's `Update.de_json` checks no types, so a wrongly typed
field used to surface as an `AttributeError` or an `int()` error); this module decides what each update means:

- `Incoming`: a message to store (text, caption, media metadata, a shared contact, or a /start or /help command);
- `Edit`: an edited message, which updates the stored original rather than creating a new message;
- `CategoryChoice`: a press on one of the /start keyboard's buttons;
- `Ignored`: anything else (group chats unless allowed, bots, channel posts, update kinds we do not handle).

Commands, the user's own contact card and button presses are stored like messages (for audit, and so the store's
dedupe by update_id covers them too) but carry `Envelope.service`, so the pipeline drops them before the agents'
inbox: they are not support requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.envelope import Attachment, Channel, Envelope, Party
from core.errors import ParseError
from core.language import detect_language, reply_language
from core.phone import to_e164
from core.settings import TelegramSettings
from core.telegram_api import ALLOWED_UPDATES
from ingest.telegram.update_model import CallbackQuery, File, Message, User, validate_update

CATEGORY_PREFIX = "cat:"  # callback_data of the /start keyboard's buttons: "cat:<category name>"
COMMANDS = ("start", "help")
HANDLED = frozenset(ALLOWED_UPDATES)


@dataclass(frozen=True)
class Incoming:
    envelope: Envelope
    command: str | None = None  # "start" or "help": answered directly, never routed as a support message
    shared_phone: str | None = None  # E.164, when the user shared their OWN contact card


@dataclass(frozen=True)
class Edit:
    update_id: int
    chat_id: int
    message_id: int
    text: str
    envelope: Envelope  # stored as a new message when the original is unknown (sent before the bot was live)


@dataclass(frozen=True)
class CategoryChoice:
    callback_query_id: str
    user_id: int
    category: str
    language: str
    envelope: Envelope  # stored (service "callback") so a repeated update is recognised and answered once


@dataclass(frozen=True)
class Ignored:
    reason: str


Parsed = Incoming | Edit | CategoryChoice | Ignored


def parse_update(data: dict[str, Any], settings: TelegramSettings, default_language: str = "en") -> Parsed:
    """Classify one update; raise `ParseError` when it is not a Bot API update, or a field it reads is malformed."""
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise ParseError("not a Telegram update: no update_id")
    if not HANDLED.intersection(data):
        return Ignored("update kind not handled")  # parsed no further: a newer Bot API kind must not dead-letter
    update = validate_update(data)
    if update.callback_query is not None:
        query = update.callback_query
        if not query.data or not query.data.startswith(CATEGORY_PREFIX):
            return Ignored("callback query that is not a category choice")
        language = user_language(query.from_user, default_language)
        return CategoryChoice(
            callback_query_id=query.id,
            user_id=query.from_user.id,
            category=query.data.removeprefix(CATEGORY_PREFIX),
            language=language,
            envelope=callback_envelope(update.update_id, query, settings, language),
        )
    message = update.message or update.edited_message
    if message is None:
        return Ignored("update kind not handled")
    if message.from_user is None or message.from_user.is_bot:
        return Ignored("not from a person")
    if message.chat.type != "private" and not settings.allow_groups:
        return Ignored(f"{message.chat.type} chat; groups are not enabled")
    envelope = to_envelope(update.update_id, message, settings, default_language)
    if update.edited_message is not None:
        return Edit(update.update_id, message.chat.id, message.message_id, envelope.text, envelope)
    command = command_of(message.text or "")
    if command is not None:
        envelope = envelope.model_copy(
            update={"suppress_ack_reason": f"telegram /{command} command", "service": command}
        )
    shared = shared_own_phone(message)
    if shared is not None:
        # Only the user's own card: a forwarded card of someone else may be what the customer wants to tell us
        # about (a number that scammed them), so it goes to the agents like any message.
        envelope = envelope.model_copy(update={"suppress_ack_reason": "telegram contact shared", "service": "contact"})
    return Incoming(envelope, command, shared)


def to_envelope(update_id: int, message: Message, settings: TelegramSettings, default_language: str) -> Envelope:
    user = message.from_user
    assert user is not None
    text = message.text or message.caption or ""
    attachments, files = media_of(message)
    if not text and message.contact is not None:
        text = f"[shared contact {message.contact.phone_number}]"
    fallback = user_language(user, default_language)
    # A command's word ("/start") says nothing about the user's language; their client's setting does.
    language = fallback if command_of(text) else detect_language(text, default=fallback)
    return Envelope(
        channel=Channel.TELEGRAM,
        provider_id=str(update_id),
        received_at=message.sent_at,
        sender=Party(address=str(user.id), name=user.full_name or None),
        recipient=Party(address=settings.bot_username or "telegram"),
        text=text,
        language=language,
        attachments=attachments,
        extras={
            "chat_id": message.chat.id,
            "chat_type": message.chat.type,
            "message_id": message.message_id,
            "language_code": user.language_code,
            "username": user.username,
            "files": files,
        },
    )


def callback_envelope(update_id: int, query: CallbackQuery, settings: TelegramSettings, language: str) -> Envelope:
    """A button press as a service message: no text of the user's, received now (a callback query has no date)."""
    user = query.from_user
    chat_id = query.message.chat.id if query.message is not None else user.id
    return Envelope(
        channel=Channel.TELEGRAM,
        provider_id=str(update_id),
        sender=Party(address=str(user.id), name=user.full_name or None),
        recipient=Party(address=settings.bot_username or "telegram"),
        text=f"[button {query.data}]",
        language=language,
        suppress_ack_reason="telegram button press",
        service="callback",
        extras={
            "chat_id": chat_id,
            "callback_query_id": query.id,
            "callback_data": query.data,
            "language_code": user.language_code,
            "username": user.username,
        },
    )


def media_of(message: Message) -> tuple[list[Attachment], list[dict[str, Any]]]:
    """Attachment metadata only: content is fetched lazily with getFile when an agent asks (size-capped)."""
    found: list[tuple[str, File, str | None, str]] = []  # kind, telegram file object, file name, mime type
    if message.photo:
        largest = message.photo[-1]  # Telegram lists the sizes smallest first
        found.append(("photo", largest, None, "image/jpeg"))
    if message.document is not None:
        doc = message.document
        found.append(("document", doc, doc.file_name, doc.mime_type or "application/octet-stream"))
    if message.voice is not None:
        found.append(("voice", message.voice, None, message.voice.mime_type or "audio/ogg"))
    if message.audio is not None:
        found.append(("audio", message.audio, message.audio.file_name, message.audio.mime_type or "audio/mpeg"))
    if message.video is not None:
        found.append(("video", message.video, message.video.file_name, message.video.mime_type or "video/mp4"))
    attachments: list[Attachment] = []
    files: list[dict[str, Any]] = []
    for kind, item, name, mime in found:
        size = int(item.file_size or 0)
        attachments.append(Attachment(filename=name, content_type=mime, size=size, url=f"telegram-file:{item.file_id}"))
        files.append({"type": kind, "file_id": item.file_id, "file_unique_id": item.file_unique_id, "size": size})
    return attachments, files


def command_of(text: str) -> str | None:
    """`start` for "/start", "/start@our_bot" or "/start payload"; None for anything else."""
    if not text.startswith("/"):
        return None
    word = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else ""
    return word if word in COMMANDS else None


def user_language(user: User, default: str) -> str:
    """The reply language the user's client is set to (`language_code`, an IETF tag), else `default`."""
    return reply_language(user.language_code or "", default)


def shared_own_phone(message: Message) -> str | None:
    """The E.164 number of a contact card the user shared of THEMSELVES.

    Anyone can forward someone else's contact card; linking on that would let a stranger read another customer's
    SMS and WhatsApp history, so only a card whose `user_id` is the sender counts (Telegram's "share my phone").
    """
    contact = message.contact
    if contact is None or message.from_user is None or contact.user_id != message.from_user.id:
        return None
    return contact_card_e164(contact.phone_number)


def contact_card_e164(raw: str) -> str | None:
    """A contact card's number in E.164 by the project's one phone rule (core.phone, shared with Twilio), so the
    number a user shares here is the same key their SMS and WhatsApp messages are filed under; None if not a number."""
    digits = raw.strip()
    if not digits.startswith("+"):
        digits = "+" + digits  # Telegram sends the international number without the plus
    return to_e164(digits, None)
