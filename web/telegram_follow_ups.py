"""What Helpline says back to a Telegram user outside the support flow, for both intake modes (the webhook in the web
app, the poller in the `telegram` process): the /start welcome with its keyboard of categories, the /help text, and
the answer to a button press.

They are sent DIRECTLY (the webhook: after its 200, as a Starlette background task; the poller: inline), not through
RQ: they answer a command rather than a support message, need no routing, and a lost one costs the user a second
/start. Duplicates of an update never get a second follow-up (`needed`).

This lives in web/ because it composes templates with the Telegram channel and the intake's `Outcome`, which only
the entry points may all import (tests/test_architecture.py); the polling process imports it from here.
"""

from __future__ import annotations

import logging

from telegram import Bot

from channels.telegram import category_keyboard, make_bot, send_text
from core.language import reply_language
from core.settings import Settings
from ingest.telegram.intake import Outcome
from ingest.telegram.normalize import CATEGORY_PREFIX
from templates import render

log = logging.getLogger("helpline.web.telegram")

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
