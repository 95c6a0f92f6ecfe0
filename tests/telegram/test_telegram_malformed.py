"""Malformed updates with a valid secret, on the real app over HTTP and through real polling: one regression test per
way they used to crash (HTTP 500), and what the guard does with an error nobody foresaw.

Before the update model (ingest/telegram/update_model.py): deep nesting raised `RecursionError`, a `message` or
`chat` that is not an object `AttributeError`, and a chat id that is not an integer failed `int()` after the update
was already stored. Each is now a dead letter naming the field, answered 200 so Telegram stops retrying.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from channels.telegram import make_bot
from core.envelope import Channel
from core.records import DeadLetter
from core.settings import Settings
from core.store import Store
from ingest.telegram.polling import Poller
from tests.support.fake_telegram import SECRET, FakeTelegram, update
from tests.support.web_server import WebServer
from web.webhook_guard import MAX_BODY_BYTES, OVERSIZE_KEPT_BYTES

HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}


def post_raw(web: WebServer, body: bytes) -> httpx.Response:
    return httpx.post(f"{web.url}/telegram/webhook", content=body, headers=HEADERS, timeout=30)


def dead_lettered(web: WebServer, store: Store, body: bytes) -> DeadLetter:
    """POST `body`; it must be answered 200, stored nowhere, and dead-lettered with its bytes."""
    response = post_raw(web, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "dead_lettered": True}
    assert store.message_ids() == []
    (letter,) = store.dead_letters()
    assert letter.channel is Channel.TELEGRAM and letter.meta["source"] == "webhook"
    return letter


def test_deep_nesting_was_a_recursion_error_and_is_a_dead_letter(web: WebServer, store: Store) -> None:
    body = b'{"update_id": 1, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    letter = dead_lettered(web, store, body)
    assert "recursion limit" in letter.error
    assert store.dead_letter_raw(letter.id) == body  # kept whole for the record
    assert httpx.get(f"{web.url}/healthz").status_code == 200  # and the app still answers


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("message", "hello", "message: Input should be a valid dictionary"),
        ("message", [1, 2], "message: Input should be a valid dictionary"),
        ("chat", 42, "message.chat: Input should be a valid dictionary"),
        ("chat", "private", "message.chat: Input should be a valid dictionary"),
        ("text", 42, "message.text: Input should be a valid string"),
        ("from", [], "message.from: Input should be a valid dictionary"),
    ],
)
def test_a_part_that_is_not_an_object_was_an_attribute_error_and_is_a_dead_letter(
    web: WebServer, store: Store, field: str, value: Any, named: str
) -> None:
    payload = update(2, "my card 4111 1111 1111 1111 was declined")
    if field == "message":
        payload["message"] = value
    else:
        payload["message"][field] = value
    letter = dead_lettered(web, store, json.dumps(payload).encode())
    assert named in letter.error


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("chat", "id"), "abc"),
        (("chat", "id"), "4111111111111111"),  # a string of digits is no id either: Telegram sends numbers
        (("chat", "id"), 12.5),
        (("chat", "id"), True),
        (("chat", "id"), 2**70),
        (("message_id",), "7"),
        (("from", "id"), None),
        (("date",), "yesterday"),
        (("date",), 10**20),
    ],
)
def test_an_id_that_is_not_an_integer_failed_after_the_store_and_is_now_refused_before_it(
    web: WebServer, store: Store, path: tuple[str, ...], value: Any
) -> None:
    payload = update(3, "hello")
    target = payload["message"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    letter = dead_lettered(web, store, json.dumps(payload).encode())
    assert "message." + ".".join(path) in letter.error
    assert str(value) not in letter.error  # the reason names the field, never quotes what it held
    assert store.find_duplicate(Channel.TELEGRAM, "3") is None  # not stored half-way, not marked as seen
    assert list(store.redis.scan_iter(store.key("tg", "msgref", "*"))) == []
    # The same update with its fields right is stored normally afterwards (nothing blocks its update_id).
    assert post_raw(web, json.dumps(update(3, "hello")).encode()).json()["status"] == "stored"


@pytest.mark.parametrize(
    "body",
    [
        b'{"update_id": 4, "message": {"text": "\xff\xfe"}}',  # not UTF-8
        b'{"update_id": 4, "message": {"text": "\\ud800"}}',  # a lone surrogate: Redis could not take it as text
        b'{"update_id": 4, "x": NaN}',
        b'{"update_id": 4, "message": {',  # cut short
        b"[1, 2, 3]",
        b"",
    ],
)
def test_bytes_that_are_not_a_json_update_are_dead_lettered(web: WebServer, store: Store, body: bytes) -> None:
    letter = dead_lettered(web, store, body)
    assert letter.error.startswith(("not JSON", "not a JSON object", "not a Telegram update"))
    assert store.dead_letter_raw(letter.id) == body


def test_an_oversize_body_is_answered_200_and_its_start_kept_in_a_dead_letter(web: WebServer, store: Store) -> None:
    text = "x" * (MAX_BODY_BYTES + 1000)
    letter = dead_lettered(web, store, json.dumps(update(5, text)).encode())
    assert letter.meta["truncated"] is True and "over the" in letter.error
    kept = store.dead_letter_raw(letter.id) or b""
    assert len(kept) == OVERSIZE_KEPT_BYTES and kept.startswith(b'{"update_id": 5')


def test_an_unforeseen_error_is_dead_lettered_logged_without_the_payload_and_answered_200(
    web: WebServer, store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault injection: an error no code path expects, carrying the customer's text in its message."""

    def broken(raw: bytes, settings: Settings, store: Store) -> None:
        raise LookupError(f"cannot handle {raw!r}")

    monkeypatch.setattr("web.telegram_routes.take_update", broken)
    secret_text = "my password is hunter2xyz"
    with caplog.at_level(logging.ERROR, logger="helpline.web.guard"):
        letter = dead_lettered(web, store, json.dumps(update(6, secret_text)).encode())
    assert letter.error.startswith("unexpected LookupError in broken (test_telegram_malformed.py:")
    assert "hunter2xyz" not in caplog.text and "unexpected LookupError" in caplog.text


def test_the_store_failing_mid_update_is_a_503_so_telegram_retries(
    web: WebServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    def store_gone(raw: bytes, settings: Settings, store: Store) -> None:
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr("web.telegram_routes.take_update", store_gone)
    assert post_raw(web, json.dumps(update(7, "hi")).encode()).status_code == 503
    assert store.dead_letters() == [] and store.message_ids() == []


def test_polling_dead_letters_a_bad_update_confirms_it_and_stores_the_next(
    tg_settings: Settings, store: Store, fake: FakeTelegram
) -> None:
    bad_chat = update(700, "hello")
    bad_chat["message"]["chat"]["id"] = "abc"
    not_an_object = {"update_id": 701, "message": "hello"}
    deep: dict[str, Any] = {"update_id": 702, "message": {}}
    nested = deep["message"]
    for _ in range(300):
        nested["reply_to_message"] = nested = {}
    for payload in (bad_chat, not_an_object, deep, update(703, "the good one")):
        fake.push_update(payload)
    poller = Poller(tg_settings, store, make_bot(tg_settings.telegram))

    async def once() -> int:
        async with poller.bot:
            return await poller.poll_once()

    assert asyncio.run(once()) == 4
    assert poller.offset() == 704  # every one confirmed: Telegram will not send them again
    letters = store.dead_letters()
    assert [json.loads(store.dead_letter_raw(d.id) or b"{}").get("update_id") for d in letters] == [700, 701, 702]
    assert all(letter.meta == {"source": "polling"} for letter in letters)
    assert "message.chat.id" in letters[0].error and "recursion limit" in letters[2].error
    assert store.find_duplicate(Channel.TELEGRAM, "703") is not None
    assert len(store.message_ids()) == 1


def test_an_error_before_the_body_is_read_is_a_503_so_telegram_sends_it_again(
    web: WebServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> None:
        raise MemoryError

    monkeypatch.setattr("web.telegram_routes.read_body", broken)
    assert post_raw(web, json.dumps(update(8, "hi")).encode()).status_code == 503
    assert store.dead_letters() == [] and store.message_ids() == []
