"""One Telegram update in, stored: shared by the webhook route and the polling process.

`take_update` does every store write an update needs and returns an `Outcome` saying what else should happen (a
welcome or help to send, a button press to answer). It sends nothing itself, so the caller can answer Telegram as
soon as the update is durable and do the talking afterwards. Raises `StoreUnavailable` when Redis is down (the
webhook answers 503; the poller keeps the offset) and `ParseError` for a payload that is not an update.

Keys it keeps, beside the store's own (`hl:tg:...`):
    tg:msgref:{chat}:{message}  -> stored message id, to apply edits to the original
    tg:category:{user}          -> the category the user picked on the /start keyboard, until their next message
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from core.errors import ParseError, StoreUnavailable
from core.records import StoredMessage
from core.settings import Settings
from core.store import Store
from ingest.telegram.normalize import CategoryChoice, Edit, Ignored, Incoming, Parsed, parse_update

MSGREF_TTL_SECONDS = 90 * 24 * 3600  # edits of older messages become new messages


@dataclass(frozen=True)
class Outcome:
    status: str  # stored | duplicate | edited | category | ignored
    message_id: str | None = None
    command: str | None = None  # start | help, for a newly stored command
    chat_id: int | None = None
    language: str = "en"
    name: str = ""  # the user's name, for the welcome
    callback_query_id: str | None = None
    category: str | None = None
    detail: str = ""


def decode(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ParseError("not a JSON object")
    return data


def take_update(raw: bytes, settings: Settings, store: Store) -> Outcome:
    parsed = parse_update(decode(raw), settings.telegram, settings.replies.default_language)
    try:
        return _take(parsed, raw, settings, store)
    except (RedisError, OSError) as exc:  # our own keys go straight to Redis, outside the store's guard
        raise StoreUnavailable(f"store unavailable: {exc}") from exc


def _take(parsed: Parsed, raw: bytes, settings: Settings, store: Store) -> Outcome:
    if isinstance(parsed, Ignored):
        return Outcome("ignored", detail=parsed.reason)
    if isinstance(parsed, CategoryChoice):
        return _choose_category(parsed, settings, store)
    if isinstance(parsed, Edit):
        return _apply_edit(parsed, raw, store)
    return _store_message(parsed, raw, settings, store)


def _store_message(incoming: Incoming, raw: bytes, settings: Settings, store: Store) -> Outcome:
    envelope = incoming.envelope
    user_id = envelope.sender.address
    if incoming.shared_phone is not None:
        # Linked before the message is stored, so the worker already files it under the phone number's contact.
        contact_id = store.contact_for(f"phone:{incoming.shared_phone}")
        store.link_identity(f"telegram:{user_id}", contact_id)
    choice_key = store.key("tg", "category", user_id)
    chosen = None
    if incoming.command is None:
        value = store.redis.get(choice_key)
        chosen = _text(value) if value else None
        if chosen is not None:
            envelope = envelope.model_copy(update={"chosen_category": chosen})
    accepted = store.accept(envelope, raw)
    chat_id = int(envelope.extras["chat_id"])
    if accepted.duplicate:
        return Outcome("duplicate", accepted.message_id, chat_id=chat_id, language=envelope.language)
    _remember(store, chat_id, int(envelope.extras["message_id"]), accepted.message_id)
    if chosen is not None:
        store.redis.delete(choice_key)  # the choice applies to the next message only
    name = envelope.sender.name or ""
    return Outcome("stored", accepted.message_id, incoming.command, chat_id, envelope.language, name)


def _remember(store: Store, chat_id: int, message_id: int, stored_id: str) -> None:
    store.redis.set(store.key("tg", "msgref", str(chat_id), str(message_id)), stored_id, ex=MSGREF_TTL_SECONDS)


def _apply_edit(edit: Edit, raw: bytes, store: Store) -> Outcome:
    ref = store.redis.get(store.key("tg", "msgref", str(edit.chat_id), str(edit.message_id)))
    if ref is None:
        # The original predates us (or its reference expired): keep the edit as a message of its own.
        accepted = store.accept(edit.envelope, raw)
        if not accepted.duplicate:
            _remember(store, edit.chat_id, edit.message_id, accepted.message_id)
        status = "duplicate" if accepted.duplicate else "stored"
        return Outcome(status, accepted.message_id, chat_id=edit.chat_id, language=edit.envelope.language)

    applied = False

    def change(message: StoredMessage) -> None:
        nonlocal applied
        # Dedupe by update_id inside the message itself: the check and the write are one WATCHed transaction.
        seen: list[int] = message.envelope.extras.setdefault("edit_update_ids", [])
        applied = False
        if edit.update_id in seen:
            return
        seen.append(edit.update_id)
        previous = message.envelope.text
        message.envelope.text = edit.text
        message.notes.append(f"edited on Telegram (update {edit.update_id}); previous text: {previous!r}")
        applied = True

    message_id = _text(ref)
    try:
        store.update_message(message_id, change)
    except KeyError:
        raise ParseError(f"edit of message {message_id}, which is no longer stored") from None
    if applied:
        store.redis.rpush(store.key("tg", "editraw", message_id), raw)  # the payloads, for audit and replay
    status = "edited" if applied else "duplicate"
    return Outcome(status, message_id, chat_id=edit.chat_id, language=edit.envelope.language)


def _choose_category(choice: CategoryChoice, settings: Settings, store: Store) -> Outcome:
    known = settings.router.categories
    if known and choice.category not in known:
        return Outcome("ignored", callback_query_id=choice.callback_query_id, detail="unknown category")
    store.redis.set(
        store.key("tg", "category", str(choice.user_id)),
        choice.category,
        ex=settings.telegram.category_choice_ttl_seconds,
    )
    return Outcome(
        "category",
        chat_id=choice.user_id,
        language=choice.language,
        callback_query_id=choice.callback_query_id,
        category=choice.category,
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
