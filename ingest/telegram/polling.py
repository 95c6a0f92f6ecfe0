"""Polling mode, for deployments without a public URL: long-poll getUpdates and store each update.

Telegram forgets an update once a later getUpdates asks for an offset above its id, so the offset we ask for is the
confirmation. We advance it (in Redis, `tg:offset`) only after `take_update` has stored the update: a crash between
the two re-delivers that update, which the store's dedupe by update_id absorbs; a restart reads the offset back and
resumes where it stopped. While the store is down the offset stays put and the loop backs off.

A bad update never stops polling: one that is not an update, has a field of the wrong type or trips an error
nobody foresaw is dead-lettered (`helpline replay`) and its offset confirmed like any other, so the updates behind it
flow on. getUpdates is called through `Bot.do_api_request` for the raw JSON, not `Bot.get_updates`: that one parses
the whole batch into PTB objects, so one malformed update would fail the batch again on every call (and PTB logs
the raw batch, customers' texts included, at CRITICAL). Each update is then read by the same code as a webhook's
(`take_update`). Any other failure of a polling round is logged and retried after a pause.

Stopping: `run()` without a stop event (the `telegram` process) stops on SIGTERM or SIGINT. The update being stored
and followed up is finished first; a long poll in flight is abandoned (the updates it would bring are not confirmed,
so Telegram delivers them again), and the process exits 0.

The Bot is passed in and follow-ups (the /start welcome, button answers) are a callable, because composing
templates and senders is not ingest's job (`helpline.processes` wires them).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError
from telegram import Bot
from telegram.error import NetworkError, RetryAfter, TelegramError

from core.envelope import Channel
from core.errors import ParseError, StoreUnavailable, unexpected_reason
from core.settings import Settings
from core.store import Store
from core.telegram_api import ALLOWED_UPDATES, retry_seconds
from ingest.telegram.intake import Outcome, take_update

log = logging.getLogger("helpline.telegram.polling")

FollowUp = Callable[[Bot, Outcome], Awaitable[None]]
BACKOFF_SECONDS = 2.0
STOP_CHECK_SECONDS = 0.05  # how often a wait looks at the stop event (a threading.Event, set by a signal or a thread)
# Bot API method names are case-insensitive (https://core.telegram.org/bots/api#making-requests). Spelt in lower
# case, PTB's do_api_request does not take it for its own `get_updates`, which it would warn about: we call it for
# the raw JSON on purpose (see the module docstring).
RAW_GET_UPDATES = "getupdates"


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
        """Poll until `stop` is set; without one, until SIGTERM or SIGINT (the `telegram` process)."""
        asyncio.run(self.run_async(stop or threading.Event(), handle_signals=stop is None))

    async def run_async(self, stop: threading.Event, *, handle_signals: bool = False) -> None:
        if handle_signals:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
        async with self.bot:
            await self.bot.delete_webhook()  # getUpdates is refused (409) while a webhook is set
            while not stop.is_set():
                try:
                    await self.poll_once(stop)
                except StoreUnavailable as exc:
                    log.warning("store unavailable, offset kept: %s", exc)
                    await _wait(stop, BACKOFF_SECONDS)
                except RetryAfter as exc:
                    await _wait(stop, retry_seconds(exc))
                except (NetworkError, TelegramError) as exc:
                    log.warning("getUpdates failed: %s", exc)
                    await _wait(stop, BACKOFF_SECONDS)
                except Exception as exc:  # polling must outlive any one bad round; the offset says where to resume
                    log.error("telegram polling round failed (%s); retrying", unexpected_reason(exc))
                    await _wait(stop, BACKOFF_SECONDS)
        log.info("telegram polling stopped")

    async def poll_once(self, stop: threading.Event | None = None) -> int:
        """One getUpdates call; store every update it returns, in order. Returns how many were stored.

        With `stop`: a long poll is abandoned when it is set, and no further update is started after it is."""
        timeout = self.settings.telegram.poll_timeout_seconds
        try:
            offset = self.offset()
        except RedisError as exc:
            raise StoreUnavailable(f"store unavailable: {exc}") from exc
        updates = await self._fetch(offset, timeout, stop)
        taken = 0
        for update in updates:
            if stop is not None and stop.is_set():
                break  # the rest stay unconfirmed: Telegram delivers them again after the restart
            update_id = update.get("update_id") if isinstance(update, dict) else None
            outcome = await asyncio.to_thread(self._take, update)
            if isinstance(update_id, int) and not isinstance(update_id, bool) and update_id >= offset:
                try:
                    self.store.redis.set(self.offset_key, update_id + 1)
                except RedisError as exc:
                    raise StoreUnavailable(f"store unavailable: {exc}") from exc
            if outcome is not None and self.follow_up is not None:
                try:
                    await self.follow_up(self.bot, outcome)
                except Exception:  # a lost welcome must not stop the intake
                    log.exception("follow-up for update %s failed", update_id)
            taken += 1
        return taken

    async def _fetch(self, offset: int, timeout: int, stop: threading.Event | None) -> list[Any]:
        """The raw updates of one getUpdates call (JSON objects, unparsed: see the module docstring)."""
        parameters = {"offset": offset, "timeout": timeout, "allowed_updates": list(ALLOWED_UPDATES)}
        request = asyncio.ensure_future(
            self.bot.do_api_request(RAW_GET_UPDATES, api_kwargs=parameters, read_timeout=timeout + 10)
        )
        if stop is None:
            return _as_list(await request)
        watcher = asyncio.ensure_future(_wait(stop, float("inf")))
        try:
            await asyncio.wait({request, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
        if request.done():
            return _as_list(request.result())
        request.cancel()
        await asyncio.gather(request, return_exceptions=True)
        return []

    def _take(self, update: Any) -> Outcome | None:
        """Store one raw update, or dead-letter it: only a store outage (StoreUnavailable) leaves it unconfirmed."""
        # surrogatepass: a lone surrogate that Telegram's JSON carried is kept as the bytes it was, and refused by
        # the update's own parser (not JSON) like any other malformed payload
        try:
            raw = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
        except (ValueError, RecursionError) as exc:  # nested past what json can write back: keep what identifies it
            update_id = update.get("update_id") if isinstance(update, dict) else None
            raw = json.dumps({"update_id": update_id}).encode()
            error = f"update not kept: {type(exc).__name__}"
            self.store.dead_letter(Channel.TELEGRAM, raw, error, {"source": "polling"})
            return None
        try:
            return take_update(raw, self.settings, self.store)
        except StoreUnavailable:
            raise
        except ParseError as exc:
            error = str(exc)
        except Exception as exc:
            error = unexpected_reason(exc)
            log.error("telegram update dead-lettered after %s", error)
        self.store.dead_letter(Channel.TELEGRAM, raw, error, {"source": "polling"})
        return None


def _as_list(result: Any) -> list[Any]:
    if not isinstance(result, list):
        raise TelegramError(f"getUpdates answered a {type(result).__name__}, not a list")
    return result


async def _wait(stop: threading.Event, seconds: float) -> None:
    """Sleep up to `seconds`, waking early when `stop` is set."""
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(min(STOP_CHECK_SECONDS, max(0.0, deadline - time.monotonic())))
