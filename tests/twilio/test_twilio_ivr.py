"""The voice menu over HTTP, step by step as Twilio walks it (following each TwiML action URL), and voicemails."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from pydantic import SecretStr

from core.envelope import Channel
from core.records import StoredMessage, utcnow
from core.settings import Settings
from core.store import Store
from ingest.twilio import voicemail_parking
from tests.support.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, post_webhook
from tests.support.web_server import WebServer

CALL = {
    "CallSid": "CA" + "1" * 32,
    "AccountSid": ACCOUNT_SID,
    "From": "+8613800138000",
    "To": "+15017122661",
    "CallStatus": "in-progress",
    "Direction": "inbound",
}


@pytest.fixture
def tw_settings(settings: Settings) -> Settings:
    twilio = settings.twilio.model_copy(update={"account_sid": ACCOUNT_SID, "auth_token": SecretStr(AUTH_TOKEN)})
    return settings.model_copy(update={"twilio": twilio})


def step(web: WebServer, url_or_path: str, extra: dict[str, str] | None = None) -> ET.Element:
    """POST one step as Twilio would (signed) and parse the TwiML it returns."""
    parsed = urlparse(url_or_path)
    path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    response = post_webhook(web.url, path, CALL | (extra or {}))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    return root


def says(element: ET.Element) -> list[tuple[str | None, str]]:
    return [(say.get("language"), say.text or "") for say in element.iter("Say")]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query, keep_blank_values=True).items()}


def test_call_is_greeted_with_a_language_choice_in_english_and_chinese(web: WebServer) -> None:
    root = step(web, "/twilio/voice")
    [gather] = root.findall("Gather")
    assert gather.get("input") == "dtmf speech" and gather.get("numDigits") == "1"
    assert gather.get("action") == f"{web.url}/twilio/voice/language?attempt=1"
    assert says(gather) == [("en-US", "For English, press 1."), ("cmn-CN", "中文服务请按 2。")]
    assert says(root)[0] == ("en-US", "Welcome to Wallet support.")
    assert root.find("Redirect") is not None  # silence still moves the call on


@pytest.mark.parametrize(
    ("answer", "lang", "say_language", "speech_language", "first_option"),
    [
        ({"Digits": "1"}, "en", "en-US", "en-US", "For fraud, a lost or stolen card or phone"),
        ({"Digits": "2"}, "zh", "cmn-CN", "zh-CN", "盗刷、卡片或手机丢失被盗"),
        ({"SpeechResult": "Mandarin please."}, "zh", "cmn-CN", "zh-CN", "盗刷、卡片或手机丢失被盗"),
    ],
)
def test_language_choice_leads_to_the_topic_menu_in_that_language(
    web: WebServer, answer: dict[str, str], lang: str, say_language: str, speech_language: str, first_option: str
) -> None:
    gather = step(web, "/twilio/voice").find("Gather")
    assert gather is not None
    root = step(web, gather.get("action", ""), answer)
    [menu] = root.findall("Gather")
    assert menu.get("language") == speech_language
    assert query(menu.get("action", "")) == {"lang": lang, "attempt": "1"}
    lines = says(menu)
    assert {language for language, _ in lines} == {say_language}
    assert lines[1][1].startswith(first_option)
    assert len(lines) == 4  # intro + three options from settings.toml


def test_no_answer_asks_again_once_then_defaults_to_the_first_language(web: WebServer) -> None:
    again = step(web, "/twilio/voice/language?attempt=1")
    gather = again.find("Gather")
    assert gather is not None and query(gather.get("action", "")) == {"attempt": "2"}
    assert says(again)[0] == ("en-US", "Sorry, I did not understand that.")
    menu = step(web, "/twilio/voice/language?attempt=2").find("Gather")
    assert menu is not None and query(menu.get("action", ""))["lang"] == "en"


@pytest.mark.parametrize(
    ("lang", "answer", "category", "transcribe"),
    [
        ("en", {"Digits": "1"}, "security", "true"),
        ("en", {"SpeechResult": "I want to top up my wallet"}, "top_up", "true"),
        ("zh", {"Digits": "3"}, "general", "false"),
        ("zh", {"SpeechResult": "我的卡被盗刷了"}, "security", "false"),
    ],
)
def test_topic_choice_by_digit_or_speech_leads_to_a_voicemail_for_that_category(
    web: WebServer, lang: str, answer: dict[str, str], category: str, transcribe: str
) -> None:
    root = step(web, f"/twilio/voice/menu?lang={lang}&attempt=1", answer)
    [record] = root.findall("Record")
    assert query(record.get("action", "")) == {"lang": lang, "category": category}
    assert record.get("transcribe") == transcribe and record.get("playBeep") == "true"
    assert record.get("maxLength") == "120" and record.get("finishOnKey") == "#"
    if transcribe == "true":
        assert query(record.get("transcribeCallback", "")) == {"lang": lang, "category": category}
    else:
        assert record.get("transcribeCallback") is None
    assert [child.tag for child in root] == ["Say", "Record", "Say", "Hangup"]


def test_unrecognised_topic_asks_again_then_records_without_a_category(web: WebServer) -> None:
    again = step(web, "/twilio/voice/menu?lang=zh&attempt=1", {"Digits": "9"})
    gather = again.find("Gather")
    assert gather is not None and says(gather)[0] == ("cmn-CN", "抱歉，我没有听清。")
    record = step(web, gather.get("action", ""), {"SpeechResult": "嗯"}).find("Record")
    assert record is not None and query(record.get("action", "")) == {"lang": "zh", "category": ""}


def recording(sid: str) -> dict[str, str]:
    return {
        "RecordingSid": sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}",
        "RecordingDuration": "14",
        "Digits": "hangup",
    }


def test_untranscribed_voicemail_becomes_a_voice_envelope_at_once(web: WebServer, store: Store) -> None:
    sid = "RE" + "2" * 32
    root = step(web, "/twilio/voice/recording?lang=zh&category=security", recording(sid))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    [message_id] = store.message_ids()
    message = store.get_message(message_id)
    assert message is not None
    envelope = message.envelope
    assert (envelope.channel, envelope.provider_id) == (Channel.VOICE, CALL["CallSid"])  # one message per call
    assert envelope.extras["recording_sid"] == sid
    assert envelope.chosen_category == "security" and envelope.language == "zh"
    assert envelope.sender.address == "+8613800138000"
    assert envelope.attachments[0].url == recording(sid)["RecordingUrl"] + ".mp3"
    assert envelope.extras["call_sid"] == CALL["CallSid"]


def transcription(sid: str, text: str, status: str = "completed") -> dict[str, str]:
    return {
        "TranscriptionSid": "TR" + sid[2:],
        "TranscriptionText": text,
        "TranscriptionStatus": status,
        "RecordingSid": sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}",
    }


def test_recording_and_its_transcript_become_one_voice_envelope(web: WebServer, store: Store) -> None:
    sid = "RE" + "3" * 32
    step(web, "/twilio/voice/recording?lang=en&category=top_up", recording(sid))
    assert store.message_ids() == []  # parked until the words arrive
    text = "Hi, my top up from yesterday never arrived."
    step(web, "/twilio/voice/transcription?lang=en&category=top_up", transcription(sid, text))
    step(web, "/twilio/voice/transcription?lang=en&category=top_up", transcription(sid, text))  # Twilio retry
    [message_id] = store.message_ids()
    message = store.get_message(message_id)
    assert message is not None
    envelope = message.envelope
    assert envelope.provider_id == CALL["CallSid"] and envelope.extras["recording_sid"] == sid
    assert envelope.text == text and envelope.chosen_category == "top_up"
    assert envelope.extras["recording_duration"] == "14" and envelope.extras["transcription_status"] == "completed"
    raw = store.get_raw(message_id) or b""
    assert b'"recording"' in raw and text.encode() in raw


def test_failed_transcription_still_routes_the_recording(web: WebServer, store: Store) -> None:
    sid = "RE" + "4" * 32
    step(web, "/twilio/voice/recording?lang=en&category=", recording(sid))
    step(web, "/twilio/voice/transcription?lang=en&category=", transcription(sid, "", status="failed"))
    message = store.get_message(store.message_ids()[0])
    assert message is not None
    assert message.envelope.text == "" and message.envelope.chosen_category is None
    assert message.envelope.extras["transcription_status"] == "failed"


def test_overdue_transcript_routes_the_recording_alone_and_a_late_one_is_added(
    web: WebServer, tw_settings: Settings, store: Store
) -> None:
    sid = "RE" + "5" * 32
    payload = {"recording": CALL | recording(sid), "lang": "en", "category": "security"}
    voicemail_parking.park(store, sid, payload, utcnow() - timedelta(hours=1))
    assert voicemail_parking.sweep_overdue_voicemails(tw_settings, store) == 1
    assert voicemail_parking.sweep_overdue_voicemails(tw_settings, store) == 0
    [message_id] = store.message_ids()
    said = "Someone stole my phone, the verification code was 483920 and my card is 4111 1111 1111 1111"
    step(web, "/twilio/voice/transcription?lang=en&category=security", transcription(sid, said))
    assert store.message_ids() == [message_id]
    message = store.get_message(message_id)
    assert message is not None
    assert message.envelope.text == "Someone stole my phone, the verification code was ****** and my card is " + (
        "**** **** **** 1111"
    )
    assert message.envelope.extras["masked"] == ["card_number", "one_time_code"]


def test_voice_webhooks_need_a_valid_signature(web: WebServer, store: Store) -> None:
    forged = post_webhook(
        web.url, "/twilio/voice/recording?lang=zh&category=security", CALL | recording("RE9"), signature="x"
    )
    assert forged.status_code == 403
    assert post_webhook(web.url, "/twilio/voice", CALL, token="wrong").status_code == 403
    assert store.message_ids() == []


def test_menu_categories_exist_in_the_router(tw_settings: Settings) -> None:
    categories = set(tw_settings.router.categories)
    assert {option.category for option in tw_settings.twilio.ivr.options} <= categories


STATUS_PATH = "/twilio/voice/status"


def only_call(store: Store) -> StoredMessage:
    [message_id] = store.message_ids()
    message = store.get_message(message_id)
    assert message is not None and message.envelope.provider_id == CALL["CallSid"]
    return message


def test_call_that_ends_before_the_beep_is_a_missed_call_with_the_menu_choice(web: WebServer, store: Store) -> None:
    step(web, "/twilio/voice/language?attempt=1", {"Digits": "2"})
    step(web, "/twilio/voice/menu?lang=zh&attempt=1", {"Digits": "1"})  # security; then the caller hangs up
    step(web, STATUS_PATH, {"CallStatus": "completed", "CallDuration": "21"})
    step(web, STATUS_PATH, {"CallStatus": "completed", "CallDuration": "21"})  # Twilio retry
    envelope = only_call(store).envelope
    assert (envelope.channel, envelope.text, envelope.attachments) == (Channel.VOICE, "", [])
    assert envelope.extras["missed_call"] is True and envelope.extras["call_duration"] == "21"
    assert envelope.chosen_category == "security" and envelope.language == "zh"
    assert envelope.sender.address == CALL["From"] and envelope.suppress_ack_reason is None


def test_call_that_ends_in_the_welcome_is_a_missed_call_in_the_default_language(
    web: WebServer, tw_settings: Settings, store: Store
) -> None:
    step(web, STATUS_PATH, {"CallStatus": "completed", "CallDuration": "3"})
    envelope = only_call(store).envelope
    assert envelope.chosen_category is None and envelope.language == tw_settings.replies.default_language


@pytest.mark.parametrize(
    "extra", [{"CallStatus": "in-progress"}, {"CallStatus": "completed", "Direction": "outbound-api"}]
)
def test_unfinished_and_outbound_calls_are_not_missed_calls(
    web: WebServer, store: Store, extra: dict[str, str]
) -> None:
    step(web, STATUS_PATH, extra)
    assert store.message_ids() == []


def test_a_call_with_a_voicemail_is_one_message(web: WebServer, store: Store) -> None:
    sid = "RE" + "6" * 32
    step(web, "/twilio/voice/recording?lang=zh&category=general", recording(sid))  # untranscribed: stored at once
    step(web, "/twilio/voice/recording?lang=zh&category=general", recording(sid))  # Twilio retry
    step(web, STATUS_PATH, {"CallStatus": "completed"})
    envelope = only_call(store).envelope
    assert envelope.extras["recording_sid"] == sid and "missed_call" not in envelope.extras


def test_a_voicemail_waiting_for_its_transcript_is_not_a_missed_call(web: WebServer, store: Store) -> None:
    sid = "RE" + "8" * 32
    step(web, "/twilio/voice/recording?lang=en&category=top_up", recording(sid))
    step(web, STATUS_PATH, {"CallStatus": "completed"})
    assert store.message_ids() == []  # parked, not missed
    step(web, "/twilio/voice/transcription?lang=en&category=top_up", transcription(sid, "My top up is missing"))
    envelope = only_call(store).envelope
    assert envelope.text == "My top up is missing" and "missed_call" not in envelope.extras


def test_a_recording_that_loses_the_race_with_the_status_callback_is_merged(web: WebServer, store: Store) -> None:
    sid = "RE" + "9" * 32
    step(web, STATUS_PATH, {"CallStatus": "completed"})
    missed = only_call(store)
    assert missed.envelope.extras["missed_call"] is True
    step(web, "/twilio/voice/recording?lang=zh&category=security", recording(sid))
    message = only_call(store)
    assert message.id == missed.id
    assert message.envelope.extras["missed_call"] is False and message.envelope.extras["recording_sid"] == sid
    assert [a.filename for a in message.envelope.attachments] == [sid + ".mp3"]
    assert message.envelope.chosen_category == "security" and message.envelope.subject == "语音留言"
    assert message.envelope.language == "zh"
    assert "recording arrived after the call was stored as missed" in message.notes[-1]
