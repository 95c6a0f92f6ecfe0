"""POST /telegram/webhook on the real app, served by uvicorn, driven over HTTP; follow-ups reach the fake Bot API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.envelope import Channel
from core.records import StoredMessage
from core.settings import Settings
from core.store import Store
from tests.support.fake_telegram import SECRET, FakeTelegram, callback, settings_for, update
from tests.support.ports import free_port
from tests.support.web_server import WebServer
from web.app import create_app

HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture
def tg_settings(settings: Settings, fake: FakeTelegram) -> Settings:
    return settings_for(settings, fake)


@pytest.fixture
def web(tg_settings: Settings, store: Store) -> Iterator[WebServer]:
    server = WebServer(create_app(tg_settings, store)).start()
    yield server
    server.stop()


def post(web: WebServer, payload: dict[str, Any], secret: str | None = SECRET, **headers: str) -> httpx.Response:
    sent = {"Content-Type": "application/json", **headers}
    if secret is not None:
        sent[HEADER] = secret
    return httpx.post(f"{web.url}/telegram/webhook", content=json.dumps(payload).encode(), headers=sent, timeout=10)


def stored(store: Store, update_id: int) -> StoredMessage:
    message_id = store.find_duplicate(Channel.TELEGRAM, str(update_id))
    assert message_id is not None, f"update {update_id} was not stored"
    message = store.get_message(message_id)
    assert message is not None
    return message


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
def test_missing_or_wrong_secret_is_forbidden_and_nothing_is_stored(
    web: WebServer, store: Store, secret: str | None
) -> None:
    response = post(web, update(1, "hello"), secret=secret)
    assert response.status_code == 403
    assert store.find_duplicate(Channel.TELEGRAM, "1") is None
    assert store.message_ids() == []


def test_without_a_configured_secret_every_call_is_refused(
    settings: Settings, fake: FakeTelegram, store: Store
) -> None:
    unprotected = settings_for(settings, fake, webhook_secret=None)
    server = WebServer(create_app(unprotected, store)).start()
    try:
        assert post(server, update(1, "hello"), secret="").status_code == 403
    finally:
        server.stop()
    assert store.message_ids() == []


def test_right_secret_stores_the_envelope_and_keeps_the_raw_payload(web: WebServer, store: Store) -> None:
    payload = update(11, "I was charged twice", user_id=501, first_name="Bo", last_name="Chen", language_code="zh")
    response = post(web, payload, **{"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200 and response.json()["status"] == "stored"
    message = stored(store, 11)
    env = message.envelope
    assert env.sender.address == "501" and env.sender.name == "Bo Chen"
    assert env.text == "I was charged twice" and env.language == "en"
    assert env.extras["chat_id"] == 501 and env.extras["language_code"] == "zh"
    raw = store.get_raw(message.id)
    assert raw is not None and json.loads(raw) == payload


def test_the_same_update_twice_is_stored_once(web: WebServer, store: Store) -> None:
    first = post(web, update(12, "hi"))
    second = post(web, update(12, "hi"))
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["status"] == "duplicate"
    assert len(store.message_ids()) == 1


def test_other_content_types_are_refused(web: WebServer, store: Store) -> None:
    response = post(web, update(13, "hi"), **{"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert store.message_ids() == []


def test_store_down_answers_503_so_telegram_retries(tg_settings: Settings, store: Store) -> None:
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    nothing_listens = free_port()
    dead = Store(Redis(port=nothing_listens, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)))
    server = WebServer(create_app(tg_settings, dead)).start()
    try:
        assert post(server, update(14, "hi")).status_code == 503
    finally:
        server.stop()
    assert store.message_ids() == []


def test_a_payload_that_is_not_an_update_is_dead_lettered_not_retried(web: WebServer, store: Store) -> None:
    response = post(web, {"hello": "world"})
    assert response.status_code == 200 and response.json()["dead_lettered"] is True
    (letter,) = store.dead_letters()
    assert letter.channel is Channel.TELEGRAM and "update_id" in letter.error


def test_group_messages_are_ignored(web: WebServer, store: Store) -> None:
    response = post(web, update(15, "hi all", chat_id=-200, chat_type="supergroup"))
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert store.message_ids() == []


def test_an_edit_updates_the_stored_original_once(web: WebServer, store: Store) -> None:
    post(web, update(20, "my tpo up failed", message_id=5))
    edit = update(21, "my top up failed", message_id=5)
    edit["edited_message"] = edit.pop("message")
    assert post(web, edit).json()["status"] == "edited"
    assert post(web, edit).json()["status"] == "duplicate"
    assert len(store.message_ids()) == 1
    message = stored(store, 20)
    assert message.envelope.text == "my top up failed"
    assert len(message.notes) == 1 and "my tpo up failed" in message.notes[0]


def test_start_sends_a_welcome_with_category_buttons_and_is_not_routed(
    web: WebServer, store: Store, fake: FakeTelegram, tg_settings: Settings
) -> None:
    assert post(web, update(30, "/start", user_id=777, language_code="zh-hans")).status_code == 200
    (call,) = fake.wait_for("sendMessage")
    assert call.params["chat_id"] == "777"
    assert "欢迎" in call.params["text"]
    buttons = [row[0] for row in call.params["reply_markup"]["inline_keyboard"]]
    assert [b["callback_data"] for b in buttons] == [f"cat:{name}" for name in tg_settings.router.categories]
    assert len({b["text"] for b in buttons}) == len(buttons), "two buttons with the same text"
    assert buttons[0]["text"] == "安全团队"  # the category's Chinese label
    message = stored(store, 30)
    assert message.envelope.suppress_ack_reason == "telegram /start command"
    # A retried /start is stored once and welcomed once.
    post(web, update(30, "/start", user_id=777, language_code="zh-hans"))
    post(web, update(31, "/help", user_id=777))
    calls = fake.wait_for("sendMessage", 2)
    assert len(calls) == 2 and "/start" in calls[1].params["text"]


def test_a_button_press_is_answered_and_sets_the_category_of_the_next_message_only(
    web: WebServer, store: Store, fake: FakeTelegram
) -> None:
    assert post(web, callback(40, "cat:security", user_id=888)).json()["status"] == "category"
    (answer,) = fake.wait_for("answerCallbackQuery")
    assert answer.params["callback_query_id"] == "cq40" and "Security team" in answer.params["text"]
    post(web, update(41, "something odd happened", user_id=888))
    post(web, update(42, "and another thing", user_id=888))
    assert stored(store, 41).envelope.chosen_category == "security"
    assert stored(store, 42).envelope.chosen_category is None


def test_an_unknown_category_is_not_remembered(web: WebServer, store: Store) -> None:
    assert post(web, callback(43, "cat:nonsense", user_id=889)).json()["status"] == "ignored"
    post(web, update(44, "hello", user_id=889))
    assert stored(store, 44).envelope.chosen_category is None


def test_sharing_ones_own_phone_links_the_telegram_user_to_the_sms_contact(web: WebServer, store: Store) -> None:
    sms_contact = store.contact_for("phone:+8613800138000")
    card = {"phone_number": "8613800138000", "first_name": "Li", "user_id": 990}
    assert post(web, update(50, "", user_id=990, contact=card)).status_code == 200
    assert store.contact_for("telegram:990") == sms_contact
    assert "telegram:990" in store.contact(sms_contact)["identities"]
    assert stored(store, 50).envelope.suppress_ack_reason == "telegram contact shared"


def test_a_forwarded_contact_card_links_nothing(web: WebServer, store: Store) -> None:
    victim = store.contact_for("phone:+8613800138000")
    card = {"phone_number": "8613800138000", "first_name": "Li", "user_id": 4242}
    post(web, update(51, "", user_id=991, contact=card))
    assert store.contact_for("telegram:991") != victim
