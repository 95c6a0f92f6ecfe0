"""Property: whatever a caller holding the secret posts to /telegram/webhook, or getUpdates returns, Helpline answers
without a crash and without a 500, and the store shows what became of it: the update stored as a message, or
dead-lettered with a reason, or (a kind or chat Helpline does not serve) ignored with a reason and nothing kept.

Generated and mutated updates (hypothesis, derandomized): every kind Helpline handles, then fields replaced by values
of other types, ids that are not integers, fields dropped, junk added, nesting deepened past every limit, bodies over
the size cap, cut short, with bytes that are not UTF-8, or not JSON at all. Served by the real app under uvicorn, into
the test's own redis-server.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import event, given, settings
from hypothesis import strategies as st
from redis import Redis

from channels.telegram import make_bot
from core.envelope import Channel
from core.payload_masking import mask_payload, payload_kind
from core.settings import Settings
from core.store import Store
from ingest.telegram.normalize import Ignored, parse_update
from ingest.telegram.polling import Poller
from tests.support.fake_telegram import SECRET, FakeTelegram, callback, update
from tests.support.mutations import PROPERTIES, broken_bytes, mutated, texts
from tests.support.web_server import WebServer
from web.webhook_guard import MAX_BODY_BYTES, OVERSIZE_KEPT_BYTES

HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
PHOTO = [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90, "file_size": 1200}]
DOCUMENT = {"file_id": "d1", "file_unique_id": "ud1", "file_name": "a.pdf", "mime_type": "application/pdf"}


@st.composite
def updates(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed update of a kind Telegram sends."""
    update_id = draw(st.integers(1, 2**31))
    user_id = draw(st.integers(1, 2**52))
    text = draw(st.sampled_from(["/start", "/help", "my top up failed", "我的充值没到账", ""]) | texts)
    kind = draw(st.sampled_from(["message", "edited", "callback", "photo", "document", "contact", "group", "other"]))
    if kind == "callback":
        return callback(update_id, draw(st.sampled_from(["cat:security", "cat:nope", "other"])), user_id=user_id)
    if kind == "other":
        return {"update_id": update_id, "poll": {"id": "p", "question": text}}
    extra: dict[str, Any] = {}
    if kind == "photo":
        extra = {"photo": PHOTO, "caption": text}
    elif kind == "document":
        extra = {"document": DOCUMENT}
    elif kind == "contact":
        extra = {"contact": {"phone_number": "8613800138000", "first_name": "Li", "user_id": user_id}}
    chat_type = "group" if kind == "group" else "private"
    payload = update(update_id, text or "hi", user_id=user_id, chat_type=chat_type, **extra)
    if kind == "edited":
        payload["edited_message"] = payload.pop("message")
    return payload


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    payload = draw(mutated(draw(updates())))
    if draw(st.integers(0, 30)) == 0:  # over the size cap, now and then (each costs a megabyte on the wire)
        payload["padding"] = "x" * MAX_BODY_BYTES
    body = json.dumps(payload, ensure_ascii=draw(st.booleans())).encode()
    return draw(broken_bytes(body)) if draw(st.integers(0, 4)) == 0 else body


def check_store(store: Store, body: bytes, answer: dict[str, Any]) -> None:
    """What the answer says became of `body` is what the store holds, and nothing else."""
    messages, letters = store.message_ids(), store.dead_letters()
    # Shown by --hypothesis-show-statistics: how the examples spread over the outcomes.
    event(f"answer: {'dead letter' if answer.get('dead_lettered') else answer['status']}")
    if answer.get("dead_lettered"):
        assert messages == []
        (letter,) = letters
        assert letter.channel is Channel.TELEGRAM and letter.error
        raw = store.dead_letter_raw(letter.id)
        kept = body[:OVERSIZE_KEPT_BYTES] if letter.meta.get("truncated") else body
        # Kept as it came, but for what the store's gate masks (a 16-digit id that passes the card check, say).
        assert raw == mask_payload(payload_kind(kept, email=False, form=False), kept).data
        return
    assert letters == [], [letter.error for letter in letters]
    update_id = str(json.loads(body)["update_id"])
    if answer["status"] == "ignored":
        assert answer["reason"]
        # Only a press on a button we never offered is kept, as the service message it is.
        assert messages == [] or [m.envelope.service for m in map(store.get_message, messages) if m] == ["callback"]
        return
    assert answer["status"] in ("stored", "category"), answer
    (message_id,) = messages
    assert store.find_duplicate(Channel.TELEGRAM, update_id) == message_id
    message = store.get_message(message_id)
    assert message is not None and message.envelope.provider_id == update_id
    assert store.get_raw(message_id) is not None


@PROPERTIES
@given(body=bodies())
def test_every_webhook_body_is_stored_dead_lettered_or_ignored_with_a_reason_never_a_500(
    web: WebServer, redis: Redis, store: Store, body: bytes
) -> None:
    redis.flushdb()
    response = httpx.post(f"{web.url}/telegram/webhook", content=body, headers=HEADERS, timeout=30)
    assert response.status_code == 200, (response.status_code, response.text)
    answer = response.json()
    assert answer["ok"] is True
    check_store(store, body, answer)


@settings(PROPERTIES, max_examples=40)
@given(payloads=st.lists(updates().flatmap(lambda u: mutated(u, keep=("update_id",))), min_size=1, max_size=3))
def test_polling_stores_or_dead_letters_every_update_and_confirms_them_all(
    tg_settings: Settings, redis: Redis, store: Store, fake: FakeTelegram, payloads: list[dict[str, Any]]
) -> None:
    redis.flushdb()
    first = max(p["update_id"] for p in fake.pending_updates()) + 1 if fake.pending_updates() else 1
    sent = []
    for offset, payload in enumerate(payloads):
        payload = {**payload, "update_id": first + offset}  # in order, as Telegram numbers them
        fake.push_update(payload)
        sent.append(payload)
    poller = Poller(tg_settings, store, make_bot(tg_settings.telegram))
    poller.store.redis.set(poller.offset_key, first)

    async def once() -> int:
        async with poller.bot:
            return await poller.poll_once()

    assert asyncio.run(once()) == len(sent)
    assert poller.offset() == first + len(sent)  # every one confirmed, the bad ones too
    letters = {json.loads(store.dead_letter_raw(d.id) or b"{}").get("update_id"): d for d in store.dead_letters()}
    for payload in sent:
        update_id = payload["update_id"]
        message_id = store.find_duplicate(Channel.TELEGRAM, str(update_id))
        letter = letters.get(update_id)
        assert message_id is None or letter is None, "stored and dead-lettered"
        ignored = letter is None and isinstance(parse_update(payload, tg_settings.telegram), Ignored)
        assert message_id is not None or letter is not None or ignored, payload
        assert letter is None or letter.error
