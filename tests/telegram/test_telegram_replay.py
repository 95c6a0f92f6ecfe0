"""`helpline replay` of dead-lettered Telegram updates (workers/replay.py REPARSERS -> intake.replay_envelope)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from core.envelope import Channel
from core.records import MessageState
from core.settings import Settings
from core.store import Store
from tests.support.fake_telegram import SECRET, FakeTelegram, callback, update
from tests.support.web_server import WebServer
from tests.support.work import drain
from web.app import create_app
from workers.replay import replay_dead_letters


def replay(settings: Settings) -> tuple[bool, list[str]]:
    lines: list[str] = []
    ok = replay_dead_letters(settings, [], list_only=False, echo=lines.append)
    return ok, lines


def dead_letter(store: Store, payload: dict[str, Any]) -> str:
    """As the webhook and the poller keep a payload `take_update` refused."""
    raw = json.dumps(payload).encode()
    return store.dead_letter(Channel.TELEGRAM, raw, "ParseError: parser bug", {"source": "webhook"})


def test_a_dead_lettered_update_is_replayed_into_a_stored_routed_acknowledged_message(
    store: Store, tg_settings: Settings, fake: FakeTelegram
) -> None:
    letter = dead_letter(store, update(90, "My withdrawal is stuck since Monday", user_id=9001, message_id=4))
    ok, lines = replay(tg_settings)
    assert ok and store.dead_letters() == []
    message_id = store.find_duplicate(Channel.TELEGRAM, "90")
    assert message_id is not None and lines == [f"{letter}: stored as {message_id}"]
    drain(tg_settings)
    message = store.get_message(message_id)
    assert message is not None and message.state is MessageState.ROUTED
    (ack,) = fake.calls("sendMessage")
    assert ack.params["chat_id"] == "9001" and ack.params["reply_parameters"]["message_id"] == 4
    # Replaying what is already stored is harmless: the dedupe ledger recognises it.
    again = dead_letter(store, update(90, "My withdrawal is stuck since Monday", user_id=9001, message_id=4))
    assert replay(tg_settings) == (True, [f"{again}: already stored as {message_id}"])


def test_an_edit_whose_original_was_gone_is_dead_lettered_by_the_webhook_and_replayed_as_a_message(
    store: Store, tg_settings: Settings
) -> None:
    server = WebServer(create_app(tg_settings, store)).start()
    try:
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}

        def post(payload: dict[str, Any]) -> httpx.Response:
            url = f"{server.url}/telegram/webhook"
            return httpx.post(url, content=json.dumps(payload).encode(), headers=headers, timeout=10)

        post(update(91, "card pament failed", user_id=9002, message_id=8))
        original = store.find_duplicate(Channel.TELEGRAM, "91")
        assert original is not None
        store.redis.delete(store.key("msg", original))  # lost (an operator's clean-up, a restore from backup)
        edit = update(92, "card payment failed", user_id=9002, message_id=8)
        edit["edited_message"] = edit.pop("message")
        assert post(edit).json()["dead_lettered"] is True
    finally:
        server.stop()
    (letter,) = store.dead_letters()
    assert "no longer stored" in letter.error
    ok, _ = replay(tg_settings)
    assert ok and store.dead_letters() == []
    replayed_id = store.find_duplicate(Channel.TELEGRAM, "92")
    replayed = store.get_message(replayed_id or "")
    assert replayed is not None and replayed.envelope.text == "card payment failed"


def test_service_updates_replay_as_service_messages_and_a_late_button_press_sets_no_category(
    store: Store, tg_settings: Settings
) -> None:
    sms_contact = store.contact_for("phone:+8613800138000")
    card = {"phone_number": "8613800138000", "first_name": "Li", "user_id": 9003}
    dead_letter(store, update(93, "", user_id=9003, contact=card))
    dead_letter(store, callback(94, "cat:security", user_id=9003))
    ok, _ = replay(tg_settings)
    assert ok and store.dead_letters() == []
    assert store.contact_for("telegram:9003") == sms_contact  # linked as the live intake links it
    assert store.redis.get(store.key("tg", "category", "9003")) is None
    drain(tg_settings)
    for update_id, service in (("93", "contact"), ("94", "callback")):
        message = store.get_message(store.find_duplicate(Channel.TELEGRAM, update_id) or "")
        assert message is not None and message.state is MessageState.DROPPED
        assert message.drop_reason == f"service message: {service}"


def test_what_still_does_not_parse_or_is_now_ignored_stays_a_dead_letter(store: Store, tg_settings: Settings) -> None:
    broken = store.dead_letter(Channel.TELEGRAM, b'{"message": {}}', "ParseError: no update_id")
    group = dead_letter(store, update(95, "hi all", chat_id=-300, chat_type="group"))
    ok, lines = replay(tg_settings)
    assert not ok and store.message_ids() == []
    assert sorted(letter.id for letter in store.dead_letters()) == sorted([broken, group])
    assert any(line.startswith(f"{group}: still failing: ParseError: nothing to store: group chat") for line in lines)
