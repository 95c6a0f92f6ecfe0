"""POST /telegram/webhook on the real app, served by uvicorn, driven over HTTP; follow-ups reach the fake Bot API."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from core.envelope import Channel
from core.inbox import Inbox
from core.records import MessageState, StoredMessage
from core.settings import Settings
from core.store import Store, as_bytes
from tests.support.fake_telegram import SECRET, FakeTelegram, callback, settings_for, update
from tests.support.ports import free_port
from tests.support.web_server import WebServer
from tests.support.work import drain
from web.app import create_app

HEADER = "X-Telegram-Bot-Api-Secret-Token"


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


def edited(update_id: int, text: str, message_id: int, **fields: Any) -> dict[str, Any]:
    payload = update(update_id, text, message_id=message_id, **fields)
    payload["edited_message"] = payload.pop("message")
    return payload


def test_an_edit_updates_the_stored_original_once(web: WebServer, store: Store) -> None:
    post(web, update(20, "my tpo up failed", message_id=5))
    edit = edited(21, "my top up failed", 5)
    assert post(web, edit).json()["status"] == "edited"
    assert post(web, edit).json()["status"] == "duplicate"
    assert len(store.message_ids()) == 1
    message = stored(store, 20)
    assert message.envelope.text == "my top up failed"
    assert len(message.notes) == 1 and "my tpo up failed" in message.notes[0]


def redis_values(store: Store) -> list[bytes]:
    """Every value Helpline keeps in Redis (strings, lists, hashes, sets, sorted sets), to look for leaks."""
    values: list[Any] = []
    for key in store.redis.scan_iter():
        kind = store.redis.type(key)
        if kind == b"string":
            values.append(store.redis.get(key) or b"")
        elif kind == b"list":
            values.extend(store.redis.lrange(key, 0, -1))
        elif kind == b"hash":
            values.extend(store.redis.hvals(key))
        elif kind == b"set":
            values.extend(store.redis.smembers(key))
        elif kind == b"zset":
            values.extend(store.redis.zrange(key, 0, -1))
    return [as_bytes(value) for value in values]


def test_secrets_in_an_edit_are_masked_and_no_unmasked_copy_is_kept(web: WebServer, store: Store) -> None:
    post(web, update(22, "I can't log in, my password: hunter2xyz", message_id=6))
    assert post(web, edited(23, "I can't log in, my OTP is 482913", 6)).json()["status"] == "edited"
    message = stored(store, 22)
    assert "482913" not in message.envelope.text and "******" in message.envelope.text
    assert message.envelope.extras["masked"] == ["one_time_code", "password"]
    assert "hunter2xyz" not in message.notes[0]  # the previous text was masked when it was stored
    leaks = [v for v in redis_values(store) if b"482913" in v or b"hunter2xyz" in v]
    assert leaks == []
    # An edit whose original we never saw becomes a message of its own, masked the same way (text and raw copy).
    assert post(web, edited(24, "verification code 551177", 99)).json()["status"] == "stored"
    assert "551177" not in stored(store, 24).envelope.text
    assert [v for v in redis_values(store) if b"551177" in v] == []


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
    # A retried /start is stored once and welcomed once. Its follow-up, were there one, would be sent after the
    # retry's 200; the /help sent after it is the sentinel: once its answer is in, count.
    assert post(web, update(30, "/start", user_id=777, language_code="zh-hans")).json()["status"] == "duplicate"
    post(web, update(31, "/help", user_id=777))
    fake.wait_for("sendMessage", 2)
    calls = fake.wait_for("sendMessage", 3, timeout=0.5)  # long enough for a stray second welcome to show
    assert [("欢迎" in c.params["text"], "/start" in c.params["text"]) for c in calls] == [(True, False), (False, True)]


def test_commands_contacts_and_button_presses_are_stored_but_never_reach_the_agents(
    web: WebServer, store: Store, fake: FakeTelegram, tg_settings: Settings
) -> None:
    card = {"phone_number": "8613800138000", "first_name": "Li", "user_id": 778}
    for payload in (
        update(32, "/start", user_id=778),
        update(33, "/help", user_id=778),
        update(34, "", user_id=778, contact=card),
        callback(35, "cat:security", user_id=778),
    ):
        assert post(web, payload).status_code == 200
    drain(tg_settings)
    assert Inbox(store).queues() == []
    for update_id, service in ((32, "start"), (33, "help"), (34, "contact"), (35, "callback")):
        message = stored(store, update_id)
        assert message.state is MessageState.DROPPED, update_id
        assert message.drop_reason == f"service message: {service}"
    assert not [c for c in fake.calls("sendMessage") if "HL-" in c.params["text"]]  # no acknowledgement either


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


def test_a_repeated_button_press_is_answered_once(web: WebServer, store: Store, fake: FakeTelegram) -> None:
    assert post(web, callback(45, "cat:security", user_id=887)).json()["status"] == "category"
    assert post(web, callback(45, "cat:security", user_id=887)).json()["status"] == "duplicate"
    post(web, callback(46, "cat:top_up", user_id=887))  # the sentinel: answered after the retry's 200
    fake.wait_for("answerCallbackQuery", 2)
    answers = fake.wait_for("answerCallbackQuery", 3, timeout=0.5)
    assert [a.params["callback_query_id"] for a in answers] == ["cq45", "cq46"]
    assert stored(store, 45).envelope.service == "callback"


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
