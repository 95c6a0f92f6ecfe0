"""Telegram webhook (`POST /telegram/webhook`) and the follow-ups both intake modes share.

The webhook checks `X-Telegram-Bot-Api-Secret-Token` in constant time (403 and nothing stored otherwise; with no
secret configured every call is refused, so an unprotected endpoint is never live), stores the update and answers
200 as soon as it is durable, 503 when the store is down so Telegram retries. A payload that is not an update is
dead-lettered and answered 200: retrying it would never help.

Follow-ups (`FollowUps`): the /start welcome with its keyboard of categories, the /help text, and the answer to a
button press are sent DIRECTLY (after the 200, as a Starlette background task; inline in the polling process), not
through RQ: they answer a command rather than a support message, need no routing, and a lost one costs the user a
second /start. Duplicates of an update never get a second follow-up.
"""

from __future__ import annotations

import hmac
import logging

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import Bot

from channels.telegram import category_keyboard, make_bot, send_text
from core.envelope import Channel
from core.errors import ParseError, StoreUnavailable
from core.language import reply_language
from core.settings import Settings
from core.store import Store
from ingest.telegram.intake import Outcome, take_update
from ingest.telegram.normalize import CATEGORY_PREFIX
from templates import render

log = logging.getLogger("helpline.web.telegram")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CHOSEN = {
    "en": "Thanks. Your next message will go to: {label}.",
    "zh": "好的，您的下一条消息将转给：{label}。",
}


class FollowUps:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @staticmethod
    def needed(outcome: Outcome) -> bool:
        return (outcome.status == "stored" and outcome.command is not None) or outcome.callback_query_id is not None

    def buttons(self, language: str) -> list[tuple[str, str]]:
        """(text, callback data) per category. Labels name teams, and one team may serve several categories
        ("Payments team"), so a label shared by several buttons gets the category's own name after it."""
        names = list(self.settings.router.categories)
        labels = [self.settings.router.label(name, language) for name in names]
        return [
            (label if labels.count(label) == 1 else f"{label} · {name.replace('_', ' ')}", CATEGORY_PREFIX + name)
            for name, label in zip(names, labels, strict=True)
        ]

    async def __call__(self, bot: Bot, outcome: Outcome) -> None:
        """Say what the outcome calls for, with an open Bot (the polling process passes its own)."""
        if not self.needed(outcome):
            return
        language = reply_language(outcome.language, self.settings.replies.default_language)
        if outcome.callback_query_id is not None:
            text = None
            if outcome.category:
                text = CHOSEN[language].format(label=self.settings.router.label(outcome.category, language))
            await bot.answer_callback_query(outcome.callback_query_id, text=text)
            return
        assert outcome.chat_id is not None and outcome.command is not None
        context = {"name": outcome.name, "signature": self.settings.email.outbound.sender_name}
        rendered = render("welcome" if outcome.command == "start" else "help", "telegram", language, context)
        markup = category_keyboard(self.buttons(language)) if outcome.command == "start" else None
        await send_text(bot, outcome.chat_id, rendered.text, markup=markup)

    async def send(self, outcome: Outcome) -> None:
        """The webhook's background task: a Bot of its own, and failures only logged (the update is stored)."""
        try:
            async with make_bot(self.settings.telegram) as bot:
                await self(bot, outcome)
        except Exception:
            log.exception("telegram follow-up failed for %s", outcome)


def routes(settings: Settings, store: Store) -> list[BaseRoute]:
    follow_ups = FollowUps(settings)

    async def webhook(request: Request) -> Response:
        secret = settings.telegram.webhook_secret
        given = request.headers.get(SECRET_HEADER, "").encode()
        if secret is None or not hmac.compare_digest(given, secret.get_secret_value().encode()):
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            return JSONResponse({"ok": False, "error": "expected application/json"}, status_code=415)
        raw = await request.body()
        try:
            outcome = await run_in_threadpool(take_update, raw, settings, store)
        except ParseError as exc:
            try:
                await run_in_threadpool(store.dead_letter, Channel.TELEGRAM, raw, str(exc), {"source": "webhook"})
            except StoreUnavailable:
                return JSONResponse({"ok": False, "error": "store unavailable"}, status_code=503)
            return JSONResponse({"ok": True, "dead_lettered": True})
        except StoreUnavailable:
            return JSONResponse({"ok": False, "error": "store unavailable"}, status_code=503)
        task = BackgroundTask(follow_ups.send, outcome) if follow_ups.needed(outcome) else None
        return JSONResponse({"ok": True, "status": outcome.status}, background=task)

    return [Route("/telegram/webhook", webhook, methods=["POST"])]
