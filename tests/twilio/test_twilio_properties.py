"""Property: whatever a signed Twilio webhook carries, every endpoint answers without a 500, with TwiML, and the store
shows what became of it: a message stored (or a voicemail parked for its transcript), or a dead letter with a reason
and the endpoint it came to, or, for what stores nothing (the menu's steps, delivery statuses, calls still in
progress), nothing at all. Bodies that are not UTF-8, or not signed, are a 400 or 403 and leave nothing behind.

Generated and mutated forms (hypothesis, derandomized): the fields of each webhook as Twilio posts them, then fields
dropped, values replaced by any text (not phone numbers, not integers, huge), junk fields added, odd menu queries.
Served by the real app under uvicorn, into the test's own redis-server, signed with the real twilio library.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import urlencode

import httpx
from hypothesis import event, given
from hypothesis import strategies as st
from redis import Redis

from core.envelope import Channel
from core.store import Store
from ingest.twilio import ivr
from tests.support.fake_twilio import ACCOUNT_SID, post_webhook, sms_form, whatsapp_form
from tests.support.mutations import PROPERTIES, broken_bytes, texts
from tests.support.web_server import WebServer

CALL = {"CallSid": "CA" + "1" * 32, "AccountSid": ACCOUNT_SID, "From": "+8613800138000", "To": "+15017122661",
        "CallStatus": "in-progress", "Direction": "inbound"}  # fmt: skip
RECORDING = CALL | {
    "RecordingSid": "RE" + "2" * 32,
    "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE" + "2" * 32,
    "RecordingDuration": "14",
}
TRANSCRIPTION = RECORDING | {"TranscriptionSid": "TR1", "TranscriptionText": "hi", "TranscriptionStatus": "completed"}
MMS = sms_form("photo") | {"NumMedia": "1", "MediaUrl0": "https://api.twilio.com/ME1", "MediaContentType0": "image/png"}
STATUS = {"MessageSid": "SM" + "3" * 32, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID, "To": "+14155550100",
          "From": "+15017122661", "ErrorCode": ""}  # fmt: skip

# What a value may become: anything, not a phone number, not an integer, a prefix Twilio uses, huge, empty.
ODD_VALUES = ["", "0", "-1", "1e9", "99999999999999999999", "whatsapp:", "whatsapp:+1", "client:alice", "anonymous",
              "+0", "completed", "outbound-api", "hangup", "undelivered", "21610"]  # fmt: skip
values = texts | st.sampled_from(ODD_VALUES) | st.integers(0, 30_000).map(lambda n: "9" * n)
queries = st.fixed_dictionaries(
    {},
    optional={
        "lang": st.sampled_from(["en", "zh", "", "xx"]) | texts,
        "category": st.sampled_from(["security", "top_up", "", "gone"]) | texts,
        "attempt": st.sampled_from(["1", "2", "0", "-3", "x", "99999999999999999999"]),
    },
)


@st.composite
def forms(draw: st.DrawFn, base: dict[str, str]) -> dict[str, str]:
    form = dict(base)
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["drop", "replace", "junk"]))
        if kind == "junk" or not form:
            form[draw(texts)] = draw(values)
            continue
        key = draw(st.sampled_from(sorted(form)))
        if kind == "drop":
            del form[key]
        else:
            form[key] = draw(values)
    return form


def twiml(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    return root


def outcome(store: Store, endpoint: str) -> str:
    """ "stored", "parked", "dead letter" or "nothing"; more than one of them at once fails."""
    messages, letters = store.message_ids(), store.dead_letters()
    parked = [key for key in store.redis.scan_iter(store.key("twilio", "parked", "*")) if b"parked_call" not in key]
    kept = [name for name, found in (("stored", messages), ("parked", parked), ("dead letter", letters)) if found]
    assert len(kept) <= 1 and len(messages) <= 1 and len(letters) <= 1, (kept, messages, letters)
    for letter in letters:
        assert letter.error and letter.meta["endpoint"] == endpoint
        assert letter.channel in (Channel.SMS, Channel.VOICE)
    result = kept[0] if kept else "nothing"
    event(f"{endpoint.removeprefix('/twilio')}: {result}")
    return result


def post(web: WebServer, path: str, query: dict[str, str], form: dict[str, str]) -> httpx.Response:
    return post_webhook(web.url, path + ("?" + urlencode(query) if query else ""), form)


Expect = Callable[[dict[str, str]], set[str]]  # form -> the outcomes allowed for it


def message_stored(form: dict[str, str]) -> set[str]:
    return {"stored", "dead letter"}


def voicemail_kept(form: dict[str, str]) -> set[str]:
    return {"stored", "parked", "dead letter"}


def missed_call_kept(form: dict[str, str]) -> set[str]:
    is_missed_call = (
        form.get("CallStatus") == "completed" and form.get("Direction", "inbound") == "inbound" and form.get("CallSid")
    )
    return {"stored", "dead letter"} if is_missed_call else {"nothing"}


def nothing_stored(form: dict[str, str]) -> set[str]:
    return {"nothing"}


ENDPOINTS: dict[str, tuple[list[dict[str, str]], Expect]] = {
    "/twilio/sms": ([sms_form("My top up failed"), whatsapp_form("充值没到账"), MMS, sms_form("STOP")], message_stored),
    "/twilio/status": ([STATUS, STATUS | {"MessageStatus": "failed", "ErrorCode": "21610"}], nothing_stored),
    "/twilio/voice": ([CALL], nothing_stored),
    ivr.LANGUAGE_PATH: ([CALL | {"Digits": "1"}, CALL | {"SpeechResult": "中文"}], nothing_stored),
    ivr.MENU_PATH: ([CALL | {"Digits": "2"}, CALL | {"SpeechResult": "security"}], nothing_stored),
    ivr.RECORDING_PATH: ([RECORDING], voicemail_kept),
    ivr.TRANSCRIPTION_PATH: ([TRANSCRIPTION], voicemail_kept),
    ivr.CALL_STATUS_PATH: ([CALL | {"CallStatus": "completed"}, CALL], missed_call_kept),
}


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, str], dict[str, str]]:
    path = draw(st.sampled_from(sorted(ENDPOINTS)))
    base = draw(st.sampled_from(ENDPOINTS[path][0]))
    return path, draw(queries), draw(forms(base))


@PROPERTIES
@given(request=requests())
def test_every_signed_webhook_is_answered_with_twiml_and_kept_or_dead_lettered_never_a_500(
    web: WebServer, redis: Redis, store: Store, request: tuple[str, dict[str, str], dict[str, str]]
) -> None:
    redis.flushdb()
    path, query, form = request
    response = post(web, path, query, form)
    if response.status_code == 413:  # a value of tens of kilobytes pushed the form past the cap
        assert len(urlencode(form)) > 1024 * 1024 and outcome(store, path) == "nothing"
        return
    root = twiml(response)
    happened = outcome(store, path)
    assert happened in ENDPOINTS[path][1](form), (path, form, happened)
    if path in ("/twilio/voice", ivr.LANGUAGE_PATH, ivr.MENU_PATH):
        assert len(root), "a step of the menu must tell Twilio what to do next"


@PROPERTIES
@given(path=st.sampled_from(sorted(ENDPOINTS)), body=broken_bytes(urlencode(sms_form("hi")).encode()))
def test_bodies_that_are_not_a_signed_utf8_form_leave_nothing_behind(
    web: WebServer, redis: Redis, store: Store, path: str, body: bytes
) -> None:
    redis.flushdb()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "not-a-signature"}
    response = httpx.post(web.url + path, content=body, headers=headers, timeout=30)
    assert response.status_code in (400, 403), (response.status_code, response.text)
    assert outcome(store, path) == "nothing"
    assert list(store.redis.scan_iter()) == []  # not a key written
