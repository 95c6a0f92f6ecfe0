"""Telegram end to end: an update in (webhook or polling) -> stored -> routed by the worker -> acknowledged at the fake.

The worker pipeline runs in-process (`tests.support.work.drain`); the acknowledgement goes out through
`channels.registry.sender_for(Channel.TELEGRAM, ...)`, i.e. the real python-telegram-bot against the fake Bot API.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from channels.telegram import make_bot
from core.envelope import Channel
from core.records import MessageState, StoredMessage
from core.settings import Settings
from core.store import Store
from ingest.telegram.polling import Poller
from tests.support.fake_telegram import SECRET, FakeTelegram, callback, settings_for, update
from tests.support.web_server import WebServer
from tests.support.work import drain


def post(web: WebServer, payload: dict[str, Any]) -> httpx.Response:
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    return httpx.post(f"{web.url}/telegram/webhook", content=json.dumps(payload).encode(), headers=headers, timeout=10)


def stored(store: Store, update_id: int) -> StoredMessage:
    message_id = store.find_duplicate(Channel.TELEGRAM, str(update_id))
    assert message_id is not None
    message = store.get_message(message_id)
    assert message is not None
    return message


def test_a_webhook_update_is_stored_routed_and_acknowledged_in_the_users_language(
    web: WebServer, store: Store, fake: FakeTelegram, tg_settings: Settings
) -> None:
    payload = update(
        1, "我的充值没到账，已经两天了", user_id=2001, message_id=77, first_name="小明", language_code="zh"
    )
    assert post(web, payload).status_code == 200
    drain(tg_settings)
    message = stored(store, 1)
    assert message.state is MessageState.ROUTED and message.decision is not None
    assert message.decision.category == "top_up"
    assert message.contact_id == store.contact_for("telegram:2001")
    (ack,) = fake.calls("sendMessage")
    assert ack.params["chat_id"] == "2001"
    assert ack.params["reply_parameters"]["message_id"] == 77  # quotes the customer's message
    assert "您的工单编号是 HL-" in ack.params["text"] and "小明" in ack.params["text"]
    assert stored(store, 1).ack_status == "sent"


def test_the_text_decides_the_acknowledgements_language_and_the_client_setting_decides_the_welcomes(
    web: WebServer, store: Store, fake: FakeTelegram, tg_settings: Settings
) -> None:
    """A user whose Telegram client is set to Chinese writes in English: the acknowledgement answers the message in
    English; /start, which has no words to go by, is welcomed in the client's Chinese."""
    post(web, update(20, "/start", user_id=2101, first_name="Wei", language_code="zh-hans"))
    (welcome,) = fake.wait_for("sendMessage")
    assert "欢迎" in welcome.params["text"]
    post(
        web,
        update(21, "My top up has not arrived after two days", user_id=2101, first_name="Wei", language_code="zh-hans"),
    )
    drain(tg_settings)
    message = stored(store, 21)
    assert message.envelope.language == "en" and message.envelope.extras["language_code"] == "zh-hans"
    (ack,) = [c for c in fake.calls("sendMessage") if "HL-" in c.params["text"]]
    assert "Your reference is HL-" in ack.params["text"] and "Wei" in ack.params["text"]
    assert not any("\u4e00" <= char <= "\u9fff" for char in ack.params["text"]), "Chinese in an English reply"


def test_the_start_keyboard_choice_routes_the_next_message_to_that_category(
    web: WebServer, store: Store, fake: FakeTelegram, tg_settings: Settings
) -> None:
    post(web, update(10, "/start", user_id=3001))
    welcome = fake.wait_for("sendMessage")[0]
    assert "inline_keyboard" in welcome.params["reply_markup"]
    post(web, callback(11, "cat:security", user_id=3001))
    fake.wait_for("answerCallbackQuery")
    post(web, update(12, "I have a question about my account", user_id=3001))
    drain(tg_settings)
    start, message = stored(store, 10), stored(store, 12)
    assert start.state is MessageState.DROPPED and start.ack_status is None  # a service message: no acknowledgement
    assert message.decision is not None and message.decision.category == "security"
    acks = [c for c in fake.calls("sendMessage") if "HL-" in c.params["text"]]
    assert len(acks) == 1 and "Security team" in acks[0].params["text"]


def test_polling_receives_stores_acknowledges_and_survives_a_restart(
    settings: Settings, store: Store, fake: FakeTelegram
) -> None:
    polling = settings_for(settings, fake, mode="polling", poll_timeout_seconds=0)

    def poll_once() -> int:
        poller = Poller(polling, store, make_bot(polling.telegram))  # a fresh poller: a process (re)start

        async def once() -> int:
            async with poller.bot:
                return await poller.poll_once()

        return asyncio.run(once())

    fake.push_update(update(500, "Where is my card? It has not arrived.", user_id=5001))
    assert poll_once() == 1
    drain(polling)
    assert len(fake.calls("sendMessage")) == 1
    assert poll_once() == 0  # restarted: the stored offset confirms 500, nothing is re-processed
    drain(polling)
    assert len(store.message_ids()) == 1 and len(fake.calls("sendMessage")) == 1
    fake.push_update(update(501, "Any news?", user_id=5001))
    assert poll_once() == 1
    drain(polling)
    assert len(store.message_ids()) == 2
    assert stored(store, 501).state is MessageState.ROUTED
