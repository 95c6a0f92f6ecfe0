"""One Telegram update in, stored: shared by the webhook route and the polling process.

`take_update` does every store write an update needs and returns an `Outcome` saying what else should happen (a
welcome or help to send, a button press to answer). It sends nothing itself, so the caller can answer Telegram as
soon as the update is durable and do the talking afterwards. Raises `StoreUnavailable` when Redis is down (the
webhook answers 503; the poller keeps the offset) and `ParseError` for a payload that is not an update.

Keys it keeps, beside the store's own (`hl:tg:...`):
    tg:msgref:{chat}:{message}  -> stored message id, to apply edits to the original
    tg:category:{user}          -> the category the user picked on the /start keyboard, until their next message

Secrets: the store's gate (core/content_gate.py) masks the message and keeps no raw payload of one that carried a
secret, and an edit's new text is masked before it replaces the stored text. Edit payloads themselves are not kept:
the message records each edit's update id and the previous (already masked) text in a note.

Edits are not re-routed: a message already routed keeps its decision and its place in the inbox (moving work an agent
may have taken would be worse than a stale category), and the note tells the agent what changed. An edit that arrives
before the worker has routed the message is routed with it, since the worker reads the stored (edited) text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from core.envelope import Channel, Envelope
from core.errors import ParseError, StoreUnavailable
from core.identity import phone_identity, telegram_identity
from core.record_queue import Item, queue_update
from core.records import StoredMessage
from core.sensitive import mask_sensitive
from core.settings import Settings
from core.store import Store, text
from ingest.telegram.normalize import CategoryChoice, Edit, Ignored, Incoming, Parsed, parse_update
from ingest.telegram.update_model import decode_update_json

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


def take_update(raw: bytes, settings: Settings, store: Store) -> Outcome:
    data = decode_update_json(raw)
    parsed = parse_update(data, settings.telegram, settings.replies.default_language)
    try:
        return _take(parsed, raw, settings, store)  # the store's gate masks what it keeps of `raw`
    except (RedisError, OSError) as exc:  # our own keys go straight to Redis, outside the store's guard
        raise StoreUnavailable(f"store unavailable: {exc}") from exc


def _take(parsed: Parsed, raw: bytes, settings: Settings, store: Store) -> Outcome:
    if isinstance(parsed, Ignored):
        return Outcome("ignored", detail=parsed.reason)
    if isinstance(parsed, CategoryChoice):
        return _choose_category(parsed, raw, settings, store)
    if isinstance(parsed, Edit):
        return _apply_edit(parsed, raw, store)
    return _store_message(parsed, raw, settings, store)


def _store_message(incoming: Incoming, raw: bytes, settings: Settings, store: Store) -> Outcome:
    envelope = incoming.envelope
    user_id = envelope.sender.address
    if incoming.shared_phone is not None:
        # Linked before the message is stored: a crash in between leaves a retry that links again (idempotent).
        contact_id = store.contact_for(phone_identity(incoming.shared_phone))
        store.link_identity(telegram_identity(user_id), contact_id)
        queue_update(store, Item.CONTACT, contact_id)  # the record follows (core/record_queue.py)
    choice_key = store.key("tg", "category", user_id)
    chosen = None
    if envelope.service is None:  # a command or a shared contact is not the message the choice was made for
        value = store.redis.get(choice_key)
        chosen = text(value) if value else None
        if chosen is not None:
            envelope = envelope.model_copy(update={"chosen_category": chosen})
    # Read before the store write, so nothing can fail between storing the update and answering for it.
    chat_id, telegram_message_id = int(envelope.extras["chat_id"]), int(envelope.extras["message_id"])
    accepted = store.accept(envelope, raw)
    if accepted.duplicate:
        return Outcome("duplicate", accepted.message_id, chat_id=chat_id, language=envelope.language)
    _remember(store, chat_id, telegram_message_id, accepted.message_id)
    if chosen is not None:
        store.redis.delete(choice_key)  # the choice applies to the next message only
    name = envelope.sender.name or ""
    return Outcome("stored", accepted.message_id, incoming.command, chat_id, envelope.language, name)


def replay_envelope(raw: bytes, meta: dict[str, Any], settings: Settings) -> Envelope:
    """The envelope a dead-lettered update stands for, for `helpline replay` (workers/replay.py `REPARSERS`), which
    stores it with `Store.accept` (dedupe by update_id still applies).

    Replay goes through the store, not through `take_update`, so: a message or command is stored as it would be now
    (an own contact card is linked first, as intake does); an edit becomes a message of its own, as when its original
    is unknown (the original may be what was lost); a button press is stored as its service message without setting
    the category, since a choice replayed late would misfile whatever the user wrote since. An update that is now
    ignored (a group chat, a bot) raises `ParseError` and stays a dead letter."""
    parsed = parse_update(decode_update_json(raw), settings.telegram, settings.replies.default_language)
    if isinstance(parsed, Ignored):
        raise ParseError(f"nothing to store: {parsed.reason}")
    if isinstance(parsed, Incoming) and parsed.shared_phone is not None:
        from core.redis_conn import connect  # only replay needs a connection of its own here

        store = Store(connect(settings))
        contact_id = store.contact_for(phone_identity(parsed.shared_phone))
        store.link_identity(telegram_identity(parsed.envelope.sender.address), contact_id)
    return parsed.envelope


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
    masked = mask_sensitive(edit.text)

    def change(message: StoredMessage) -> None:
        nonlocal applied
        # Dedupe by update_id inside the message itself: the check and the write are one WATCHed transaction.
        extras = message.envelope.extras
        seen: list[int] = extras.setdefault("edit_update_ids", [])
        applied = False
        if edit.update_id in seen:
            return
        seen.append(edit.update_id)
        previous = message.envelope.text
        message.envelope.text = masked.text
        if masked.found:
            extras["masked"] = sorted(set(extras.get("masked") or []) | set(masked.kinds))
        message.notes.append(f"edited on Telegram (update {edit.update_id}); previous text: {previous!r}")
        applied = True

    message_id = text(ref)
    try:
        store.update_message(message_id, change)
    except KeyError:
        raise ParseError(f"edit of message {message_id}, which is no longer stored") from None
    if applied:
        queue_update(store, Item.MESSAGE, message_id)  # the record follows (core/record_queue.py)
    status = "edited" if applied else "duplicate"
    return Outcome(status, message_id, chat_id=edit.chat_id, language=edit.envelope.language)


def _choose_category(choice: CategoryChoice, raw: bytes, settings: Settings, store: Store) -> Outcome:
    """Remember the choice, then store the press (service "callback"): the store's dedupe by update_id decides
    whether this delivery is the first, and only the first carries the callback id the press is answered with.

    The choice is written before the press is stored so that a crash between the two leaves a retry that still
    sets it; a delivery already known is turned away before writing anything, so a late retry of an old press
    cannot undo a newer one."""
    update_id = choice.envelope.provider_id
    known_message = store.find_duplicate(Channel.TELEGRAM, update_id)
    if known_message is not None:
        return Outcome("duplicate", known_message, chat_id=choice.user_id, language=choice.language)
    valid = not settings.router.categories or choice.category in settings.router.categories
    if valid:
        store.redis.set(
            store.key("tg", "category", str(choice.user_id)),
            choice.category,
            ex=settings.telegram.category_choice_ttl_seconds,
        )
    accepted = store.accept(choice.envelope, raw)
    if accepted.duplicate:  # a concurrent delivery of the same update won the race: it answers
        return Outcome("duplicate", accepted.message_id, chat_id=choice.user_id, language=choice.language)
    return Outcome(
        "category" if valid else "ignored",
        accepted.message_id,
        chat_id=choice.user_id,
        language=choice.language,
        callback_query_id=choice.callback_query_id,
        category=choice.category if valid else None,
        detail="" if valid else "unknown category",
    )
