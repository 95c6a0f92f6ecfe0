"""Bad input and unforeseen errors on the Twilio webhooks, over real HTTP into the real store: never a 500.

Message and callback endpoints dead-letter what they cannot read and answer empty TwiML; the voice menu's steps
answer TwiML a call can go on with; a body that is not UTF-8 is a 400, one over the size cap a 413 (unsigned
junk is never kept).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from core.envelope import Channel
from core.store import Store
from ingest.twilio import ivr
from tests.support.fake_twilio import ACCOUNT_SID, post_webhook, sign, sms_form
from tests.support.web_server import WebServer
from web.twilio_routes import EMPTY_TWIML
from web.webhook_guard import MAX_BODY_BYTES

CALL = {"CallSid": "CA" + "7" * 32, "AccountSid": ACCOUNT_SID, "From": "+8613800138000", "To": "+15017122661"}


def test_a_body_that_is_not_utf8_is_a_400_and_nothing_is_kept(web: WebServer, store: Store) -> None:
    body = b"From=%2B14155550100&Body=\xff\xfe"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}
    response = httpx.post(f"{web.url}/twilio/sms", content=body, headers=headers, timeout=10)
    assert response.status_code == 400
    assert store.message_ids() == [] and store.dead_letters() == []


def test_an_oversize_body_is_a_413_and_nothing_is_kept(web: WebServer, store: Store) -> None:
    form = sms_form("x" * (MAX_BODY_BYTES + 10))
    response = post_webhook(web.url, "/twilio/sms", form)
    assert response.status_code == 413
    assert store.message_ids() == [] and store.dead_letters() == []


def test_a_recording_callback_without_its_sid_is_dead_lettered_and_the_caller_hears_goodbye(
    web: WebServer, store: Store
) -> None:
    response = post_webhook(web.url, "/twilio/voice/recording?lang=en&category=", CALL | {"RecordingDuration": "3"})
    assert response.status_code == 200
    root = ET.fromstring(response.text)
    assert [child.tag for child in root] == ["Say", "Hangup"]
    (letter,) = store.dead_letters()
    assert letter.channel is Channel.VOICE and "RecordingSid" in letter.error
    assert letter.meta == {"endpoint": ivr.RECORDING_PATH, "query": {"lang": "en", "category": ""}}


def test_an_unforeseen_error_on_a_message_is_dead_lettered_and_answered_with_empty_twiml(
    web: WebServer, store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(form: dict[str, str], **settings: object) -> None:
        raise RuntimeError(f"cannot read {form['Body']}")

    monkeypatch.setattr("web.twilio_routes.message_envelope", broken)
    form = sms_form("my card number is 4111 1111 1111 1111")
    with caplog.at_level(logging.ERROR, logger="helpline.web.guard"):
        response = post_webhook(web.url, "/twilio/sms", form)
    assert (response.status_code, response.text) == (200, EMPTY_TWIML)
    (letter,) = store.dead_letters()
    assert letter.channel is Channel.SMS and letter.error.startswith("unexpected RuntimeError in broken")
    assert letter.meta == {"endpoint": "/twilio/sms", "query": {}, "masked": ["card_number"]}
    raw = store.dead_letter_raw(letter.id)  # kept for replay, with the card masked by the store's gate
    assert raw is not None and b"4111" not in raw and dict(parse_qsl(raw.decode()))["From"] == form["From"]
    assert "4111" not in caplog.text and "4111" not in letter.error
    assert store.message_ids() == []


def test_an_unforeseen_error_in_the_voice_menu_still_lets_the_caller_leave_a_message(
    web: WebServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> str:
        raise ZeroDivisionError

    monkeypatch.setattr(ivr, "menu_step", broken)
    response = post_webhook(web.url, f"{ivr.MENU_PATH}?lang=en&attempt=1", CALL | {"Digits": "1"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    record = ET.fromstring(response.text).find("Record")
    assert record is not None and record.get("action", "").endswith(ivr.RECORDING_PATH + "?lang=en&category=")
    assert store.dead_letters() == []  # a menu step stores nothing, so there is nothing to keep


def test_an_unforeseen_error_in_a_delivery_status_is_answered_200(
    web: WebServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise TypeError("nope")

    monkeypatch.setattr("web.twilio_routes.apply_status", broken)
    form = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    response = post_webhook(web.url, "/twilio/status", form)
    assert (response.status_code, response.text) == (200, EMPTY_TWIML)
    # Not dead-lettered: a replay would read a status of our own reply as an inbound message.
    assert store.dead_letters() == [] and store.message_ids() == []


def test_a_redis_error_outside_the_store_is_a_503_so_twilio_retries(
    web: WebServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.exceptions import TimeoutError as RedisTimeout

    def slow(*args: object) -> None:
        raise RedisTimeout("Timeout reading from socket")

    monkeypatch.setattr("web.twilio_routes.apply_status", slow)
    form = {"MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered"}
    assert post_webhook(web.url, "/twilio/status", form).status_code == 503


def test_signature_is_still_required_for_every_form(web: WebServer, store: Store) -> None:
    form = sms_form("hello")
    url = f"{web.url}/twilio/sms"
    forged = sign(url, form | {"Body": "other"})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": forged}
    assert httpx.post(url, content=urlencode(form), headers=headers, timeout=10).status_code == 403
    assert store.message_ids() == [] and store.dead_letters() == []


def test_an_error_before_the_signature_is_checked_keeps_nothing_and_asks_for_a_retry(
    web: WebServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> str:
        raise UnicodeError("odd header")

    monkeypatch.setattr("web.twilio_signature.SignatureCheck.problem", broken)
    assert post_webhook(web.url, "/twilio/sms", sms_form("hello")).status_code == 503  # unsigned: keep nothing
    voice = post_webhook(web.url, "/twilio/voice", CALL)  # a call still gets TwiML it can go on with
    assert voice.status_code == 200 and ET.fromstring(voice.text).find("Record") is not None
    assert store.message_ids() == [] and store.dead_letters() == []
