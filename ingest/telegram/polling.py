"""Polling mode, for deployments without a public URL: long-poll getUpdates and store each update.

Telegram forgets an update once a later getUpdates asks for an offset above its id, so the offset we ask for is the
confirmation. We advance it (in Redis, `tg:offset`) only after `take_update` has stored the update: a crash between
the two re-delivers that update, which the store's dedupe by update_id absorbs; a restart reads the offset back and
resumes where it stopped. While the store is down the offset stays put and the loop backs off.

The Bot is passed in and follow-ups (the /start welcome, button answers) are a callable, because composing
templates and senders is not ingest's job (`helpline.processes` wires them).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta

from redis.exceptions import RedisError
from telegram import Bot
from telegram.error import NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from core.envelope import Channel
from core.errors import ParseError, StoreUnavailable
from core.settings import Settings
from core.store import Store
from ingest.telegram.intake import Outcome, take_update

log = logging.getLogger("helpline.telegram.polling")

FollowUp = Callable[[Bot, Outcome], Awaitable[None]]
# The same list channels.telegram.set_webhook registers (ingest may not import channels).
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
BACKOFF_SECONDS = 2.0


class Poller:
    def __init__(self, settings: Settings, store: Store, bot: Bot, follow_up: FollowUp | None = None) -> None:
        self.settings = settings
        self.store = store
        self.bot = bot
        self.follow_up = follow_up
        self.offset_key = store.key("tg", "offset")

    def offset(self) -> int:
        value = self.store.redis.get(self.offset_key)
        return int(value) if value else 0

    def run(self, stop: threading.Event | None = None) -> None:
        """Poll until `stop` is set (forever without one)."""
        asyncio.run(self.run_async(stop or threading.Event()))

    async def run_async(self, stop: threading.Event) -> None:
        async with self.bot:
            await self.bot.delete_webhook()  # getUpdates is refused (409) while a webhook is set
            while not stop.is_set():
                try:
                    await self.poll_once()
                except StoreUnavailable as exc:
                    log.warning("store unavailable, offset kept: %s", exc)
                    await asyncio.sleep(BACKOFF_SECONDS)
                except RetryAfter as exc:
                    with warnings.catch_warnings():  # int in PTB 22 (warns), timedelta from PTB 23
                        warnings.simplefilter("ignore", PTBDeprecationWarning)
                        wait = exc.retry_after
                    await asyncio.sleep(wait.total_seconds() if isinstance(wait, timedelta) else float(wait))
                except (NetworkError, TelegramError) as exc:
                    log.warning("getUpdates failed: %s", exc)
                    await asyncio.sleep(BACKOFF_SECONDS)

    async def poll_once(self) -> int:
        """One getUpdates call; store every update it returns, in order. Returns how many were stored."""
        timeout = self.settings.telegram.poll_timeout_seconds
        try:
            offset = self.offset()
        except RedisError as exc:
            raise StoreUnavailable(f"store unavailable: {exc}") from exc
        updates = await self.bot.get_updates(
            offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES, read_timeout=timeout + 10
        )
        for update in updates:
            raw = json.dumps(update.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()
            outcome = await asyncio.to_thread(self._take, raw)
            try:
                self.store.redis.set(self.offset_key, update.update_id + 1)
            except RedisError as exc:
                raise StoreUnavailable(f"store unavailable: {exc}") from exc
            if outcome is not None and self.follow_up is not None:
                try:
                    await self.follow_up(self.bot, outcome)
                except Exception:  # a lost welcome must not stop the intake
                    log.exception("follow-up for update %s failed", update.update_id)
        return len(updates)

    def _take(self, raw: bytes) -> Outcome | None:
        try:
            return take_update(raw, self.settings, self.store)
        except ParseError as exc:
            self.store.dead_letter(Channel.TELEGRAM, raw, str(exc), {"source": "polling"})
            return None
