"""Telegram out: the Sender, plus the few other Bot API calls Helpline makes (welcome keyboards, callback answers,
setWebhook, lazy file fetches), all through python-telegram-bot's `telegram.Bot`.

The Bot is async and RQ jobs are sync. A Bot and its httpx connection pool belong to the event loop that opened
them (kept across `asyncio.run` calls, a Bot fails on the second with "Event loop is closed"), so each process keeps
one event loop of its own in a daemon thread and one initialised Bot per token and API address on it
(`run_with_bot`): sync callers hand it coroutines. A new loop and Bot per send cost about 120 ms (a getMe and a new
connection each time); the getMe that checks the token is now made once, when the Bot is first used.

Errors (https://core.telegram.org/bots/api#making-requests): 403 `Forbidden` means the user blocked the bot, which
is permanent and recorded on the contact (`telegram_blocked`); 429 `RetryAfter` carries the wait Telegram asks for;
`BadRequest` (chat not found, message too long) is permanent; timeouts and other network errors are transient.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.constants import MessageLimit
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError

from channels.text_units import prefix_within, utf16_units
from core.envelope import Envelope
from core.errors import PermanentSendError, TransientSendError
from core.identity import telegram_identity
from core.record_queue import Item, queue_update
from core.records import Reply
from core.settings import Settings, TelegramSettings
from core.store import Store
from core.telegram_api import ALLOWED_UPDATES, retry_seconds

T = TypeVar("T")
MAX_TEXT = int(MessageLimit.MAX_TEXT_LENGTH)  # 4096, counted by Telegram in UTF-16 code units


class TelegramNotConfigured(PermanentSendError):
    """No bot token in the environment (HELPLINE_TELEGRAM__TOKEN)."""


class FileTooLarge(Exception):
    def __init__(self, file_id: str, size: int, cap: int) -> None:
        super().__init__(f"telegram file {file_id} is {size} bytes; the cap is {cap}")
        self.size = size


def make_bot(settings: TelegramSettings) -> Bot:
    if settings.token is None:
        raise TelegramNotConfigured("no Telegram bot token: set HELPLINE_TELEGRAM__TOKEN")
    base = settings.api_base_url.rstrip("/")
    return Bot(settings.token.get_secret_value(), base_url=f"{base}/bot", base_file_url=f"{base}/file/bot")


def run_with_bot(settings: TelegramSettings, action: Callable[[Bot], Awaitable[T]]) -> T:
    """Run `action(bot)` to completion from sync code, on the process's Telegram loop (see the module docstring)."""

    async def main() -> T:
        return await action(await _bot_for(settings))

    future = asyncio.run_coroutine_threadsafe(main(), _shared_loop())
    try:
        return future.result()
    except BaseException:  # e.g. the job's timeout, raised in this thread: the call must not go on without it
        future.cancel()
        raise


# The process's Telegram loop and its Bots; `_pid` tells a forked child (which has the objects but not the thread)
# to start its own.
_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_pid = 0
_bots: dict[tuple[str, str], Bot] = {}
_MAX_BOTS = 8  # one per token and API address; more only in tests, which point at a new fake each time


def _shared_loop() -> asyncio.AbstractEventLoop:
    global _loop, _pid
    with _lock:
        if _loop is None or _pid != os.getpid() or _loop.is_closed():
            _loop, _pid = asyncio.new_event_loop(), os.getpid()
            _bots.clear()  # they belong to the old loop
            threading.Thread(target=_loop.run_forever, name="telegram-loop", daemon=True).start()
        return _loop


async def _bot_for(settings: TelegramSettings) -> Bot:
    """The initialised Bot for these settings (only ever called on the process's Telegram loop, so unlocked)."""
    token = settings.token.get_secret_value() if settings.token is not None else ""
    key = (token, settings.api_base_url)
    bot = _bots.get(key)
    if bot is None:
        bot = make_bot(settings)
        await bot.initialize()  # getMe: checks the token; not kept when it fails, so the next call checks again
        if len(_bots) >= _MAX_BOTS:
            await _bots.pop(next(iter(_bots))).shutdown()
        _bots[key] = bot
    return bot


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most `limit` UTF-16 units, cut at a paragraph, line or word break when there is one."""
    pieces: list[str] = []
    rest = text
    while utf16_units(rest) > limit:
        window = prefix_within(rest, limit)
        cut = _break_in(window)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def _break_in(window: str) -> int:
    """Where to cut: the best-ranked break in the window's second half, else the last break, else the end."""
    for separator in ("\n\n", "\n", " "):
        position = window.rfind(separator)
        if position >= len(window) // 2:
            return position
    last = max(window.rfind("\n"), window.rfind(" "))
    return last if last > 0 else len(window)


def category_keyboard(buttons: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    """One button per row: (label, callback_data)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)] for label, data in buttons])


async def send_text(
    bot: Bot, chat_id: int | str, text: str, *, reply_to: int | None = None, markup: Any = None
) -> list[int]:
    """Send `text` in as many messages as it takes; the first quotes `reply_to`, the last carries `markup`."""
    pieces = split_text(text)
    sent: list[int] = []
    for i, piece in enumerate(pieces):
        quote = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to and i == 0 else None
        message = await bot.send_message(
            chat_id=chat_id,
            text=piece,
            reply_parameters=quote,
            reply_markup=markup if i == len(pieces) - 1 else None,
        )
        sent.append(message.message_id)
    return sent


class TelegramSender:
    def __init__(self, settings: TelegramSettings, store: Store) -> None:
        self.settings = settings
        self.store = store

    def send(self, reply: Reply, original: Envelope) -> str:
        chat_id = chat_id_of(original.extras.get("chat_id") or reply.to)
        quote = original.extras.get("message_id")
        reply_to = int(quote) if isinstance(quote, int | str) and str(quote).isdigit() else None
        try:
            ids = run_with_bot(self.settings, lambda bot: send_text(bot, chat_id, reply.text, reply_to=reply_to))
        except Forbidden as exc:
            contact_id = self.store.contact_for(telegram_identity(original.sender.address))
            self.store.set_contact_field(contact_id, "telegram_blocked", "1")
            queue_update(self.store, Item.CONTACT, contact_id)
            raise PermanentSendError(f"telegram: {exc.message}") from exc
        except RetryAfter as exc:
            raise TransientSendError(f"telegram: {exc.message}", retry_after=retry_seconds(exc)) from exc
        except (BadRequest, InvalidToken) as exc:  # before NetworkError: BadRequest is one of its subclasses
            raise PermanentSendError(f"telegram: {exc.message}") from exc
        except (NetworkError, TelegramError) as exc:  # TimedOut is a NetworkError
            raise TransientSendError(f"telegram: {exc.message}") from exc
        return str(ids[0])


def chat_id_of(value: object) -> int | str:
    """A Bot API chat id: an integer (negative for groups) or a public `@username`; anything else no Telegram
    server will ever take, so it is a permanent failure, not a crash."""
    text = str(value).strip()
    if text.lstrip("-").isdigit() and text.isascii():
        return int(text)
    if text.startswith("@") and len(text) > 1 and text[1:].replace("_", "").isalnum() and text.isascii():
        return text
    raise PermanentSendError(f"telegram: chat id {value!r} is not a number")


def set_webhook(settings: Settings) -> dict[str, Any]:
    """Register `[web] public_url` + /telegram/webhook and the secret with the Bot API; return getWebhookInfo."""
    telegram = settings.telegram
    if not settings.web.public_url:
        raise ValueError("set [web] public_url (HELPLINE_WEB__PUBLIC_URL) first")
    if telegram.webhook_secret is None:
        raise ValueError("set HELPLINE_TELEGRAM__WEBHOOK_SECRET first")
    url = settings.web.public_url.rstrip("/") + "/telegram/webhook"
    secret = telegram.webhook_secret.get_secret_value()

    async def register(bot: Bot) -> dict[str, Any]:
        await bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        return (await bot.get_webhook_info()).to_dict()

    return run_with_bot(telegram, register)


def fetch_file(settings: TelegramSettings, file_id: str, cap: int | None = None) -> bytes:
    """Download an attachment's content on demand (agents), refusing files above the cap before downloading."""
    limit = cap if cap is not None else settings.max_file_bytes

    async def fetch(bot: Bot) -> bytes:
        file = await bot.get_file(file_id)
        if file.file_size is not None and file.file_size > limit:
            raise FileTooLarge(file_id, file.file_size, limit)
        data = bytes(await file.download_as_bytearray())
        if len(data) > limit:  # the size was missing or wrong
            raise FileTooLarge(file_id, len(data), limit)
        return data

    return run_with_bot(settings, fetch)
