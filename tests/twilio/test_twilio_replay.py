"""Dead-lettered Twilio webhooks come back with `helpline replay` once the cause is fixed (workers/replay.py)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr

from core.envelope import Channel
from core.settings import Settings
from core.store import Store
from ingest.twilio.replay import reparse_voice
from tests.support.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, post_webhook, sms_form
from tests.support.web_server import WebServer
from web.app import create_app
from workers.replay import replay_dead_letters

UK_MOBILE_AS_DIALLED = "07911 123456"  # national format: only a GB default region reads it


def with_region(settings: Settings, region: str) -> Settings:
    twilio = settings.twilio.model_copy(
        update={"account_sid": ACCOUNT_SID, "auth_token": SecretStr(AUTH_TOKEN), "default_region": region}
    )
    return settings.model_copy(update={"twilio": twilio})


@pytest.fixture
def web(settings: Settings, store: Store) -> Iterator[WebServer]:
    server = WebServer(create_app(with_region(settings, "US"), store)).start()
    yield server
    server.stop()


def test_a_dead_lettered_sms_is_stored_by_replay_after_the_fix(
    web: WebServer, settings: Settings, store: Store
) -> None:
    form = sms_form("my transfer is stuck", from_=UK_MOBILE_AS_DIALLED)
    assert post_webhook(web.url, "/twilio/sms", form).status_code == 200
    [letter] = store.dead_letters()
    assert letter.channel is Channel.SMS and store.message_ids() == []

    lines: list[str] = []
    assert replay_dead_letters(with_region(settings, "GB"), [], list_only=False, echo=lines.append)
    [message_id] = store.message_ids()
    message = store.get_message(message_id)
    assert message is not None
    assert (message.envelope.channel, message.envelope.provider_id) == (Channel.SMS, form["MessageSid"])
    assert message.envelope.sender.address == "+447911123456" and message.envelope.text == "my transfer is stuck"
    assert store.get_raw(message_id) == urlencode(form).encode()
    assert store.dead_letters() == [] and lines == [f"{letter.id}: stored as {message_id}"]


def test_a_webhook_that_still_fails_stays_dead_lettered(web: WebServer, settings: Settings, store: Store) -> None:
    assert post_webhook(web.url, "/twilio/sms", sms_form("hi", from_=UK_MOBILE_AS_DIALLED)).status_code == 200
    assert not replay_dead_letters(with_region(settings, "US"), [], list_only=False, echo=lambda line: None)
    [letter] = store.dead_letters()
    assert letter.attempts == 2 and "not a possible phone number" in letter.error


@pytest.mark.parametrize(
    ("endpoint", "text", "missed"),
    [
        ("/twilio/voice/recording", "", False),
        ("/twilio/voice/transcription", "Please call me back", False),
        ("/twilio/voice/status", "", True),
    ],
)
def test_voice_callbacks_are_reparsed_as_their_endpoint_would(
    settings: Settings, endpoint: str, text: str, missed: bool
) -> None:
    form = {
        "CallSid": "CA" + "3" * 32,
        "From": "+8613800138000",
        "To": "+15017122661",
        "RecordingSid": "RE" + "3" * 32,
        "RecordingUrl": "https://api.twilio.com/rec",
        "TranscriptionStatus": "completed",
        "TranscriptionText": "Please call me back",
        "CallStatus": "completed",
    }
    meta = {"endpoint": endpoint, "query": {"lang": "zh", "category": "security"}}
    envelope = reparse_voice(urlencode(form).encode(), meta, settings)
    assert (envelope.channel, envelope.provider_id, envelope.text) == (Channel.VOICE, form["CallSid"], text)
    assert envelope.language == "zh" and envelope.chosen_category == "security"
    assert bool(envelope.extras.get("missed_call")) is missed and bool(envelope.attachments) is not missed


def test_a_replayed_stop_still_opts_the_contact_out(web: WebServer, settings: Settings, store: Store) -> None:
    form = sms_form("STOP", from_=UK_MOBILE_AS_DIALLED)
    assert post_webhook(web.url, "/twilio/sms", form).status_code == 200
    assert replay_dead_letters(with_region(settings, "GB"), [], list_only=False, echo=lambda line: None)
    contact = store.contact(store.contact_for("phone:+447911123456"))
    assert contact.get("sms_opted_out") == "1"
