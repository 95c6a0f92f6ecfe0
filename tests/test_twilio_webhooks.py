"""SMS/WhatsApp/status webhooks over real HTTP (uvicorn), signed like Twilio signs them, into the real store."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from redis import Redis

from core.envelope import Channel
from core.records import Reply, ReplyState
from core.settings import Settings
from core.store import Store
from tests.support.fake_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilio,
    post_webhook,
    sign,
    sms_form,
    whatsapp_form,
)
from tests.support.ports import free_port
from tests.support.web_server import WebServer
from web.app import create_app


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    server = FakeTwilio().start()
    yield server
    server.stop()


def with_twilio(settings: Settings, fake: FakeTwilio, **web: object) -> Settings:
    return settings.model_copy(
        update={
            "twilio": settings.twilio.model_copy(
                update={"account_sid": ACCOUNT_SID, "auth_token": SecretStr(AUTH_TOKEN), "api_base_url": fake.url}
            ),
            "web": settings.web.model_copy(update=web),
        }
    )


@pytest.fixture
def tw_settings(settings: Settings, fake: FakeTwilio) -> Settings:
    return with_twilio(settings, fake)


@pytest.fixture
def web(tw_settings: Settings, store: Store) -> Iterator[WebServer]:
    server = WebServer(create_app(tw_settings, store)).start()
    yield server
    server.stop()


def stored(store: Store) -> list[str]:
    return store.message_ids()


def test_inbound_sms_is_stored_with_e164_sender_and_answered_with_empty_twiml(web: WebServer, store: Store) -> None:
    form = sms_form("My top up has not arrived", from_="+1 (415) 555-0100", to="+15017122661")
    response = post_webhook(web.url, "/twilio/sms", form)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.endswith("<Response />")
    [message_id] = stored(store)
    message = store.get_message(message_id)
    assert message is not None
    envelope = message.envelope
    assert (envelope.channel, envelope.provider_id) == (Channel.SMS, form["MessageSid"])
    assert envelope.sender.address == "+14155550100"
    assert envelope.recipient is not None and envelope.recipient.address == "+15017122661"
    assert envelope.text == "My top up has not arrived"
    assert envelope.extras["to"] == "+15017122661"
    assert store.get_raw(message_id) is not None and b"top+up" in (store.get_raw(message_id) or b"")


def test_mms_media_become_attachments(web: WebServer, store: Store) -> None:
    form = sms_form("see photo") | {
        "NumMedia": "2",
        "MediaUrl0": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1",
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME2",
        "MediaContentType1": "application/pdf",
    }
    assert post_webhook(web.url, "/twilio/sms", form).status_code == 200
    message = store.get_message(stored(store)[0])
    assert message is not None
    attachments = message.envelope.attachments
    assert [(a.content_type, a.filename) for a in attachments] == [
        ("image/jpeg", "ME1.jpg"),
        ("application/pdf", "ME2.pdf"),
    ]
    assert attachments[0].url == form["MediaUrl0"]


def test_whatsapp_message_is_a_whatsapp_envelope_from_the_plain_number(web: WebServer, store: Store) -> None:
    form = whatsapp_form("我的账户被盗了", from_="+8613800138000", to="+14155238886", profile_name="李雷")
    assert post_webhook(web.url, "/twilio/sms", form).status_code == 200
    message = store.get_message(stored(store)[0])
    assert message is not None
    envelope = message.envelope
    assert envelope.channel is Channel.WHATSAPP
    assert envelope.sender.address == "+8613800138000" and envelope.sender.name == "李雷"
    assert envelope.recipient is not None and envelope.recipient.address == "+14155238886"
    assert envelope.extras["to"] == "whatsapp:+14155238886"
    assert envelope.language == "zh"


def test_replayed_webhook_is_not_stored_twice(web: WebServer, store: Store) -> None:
    form = sms_form("hello", sid="SM" + "a" * 32)
    assert post_webhook(web.url, "/twilio/sms", form).status_code == 200
    assert post_webhook(web.url, "/twilio/sms", form).status_code == 200
    assert len(stored(store)) == 1
    assert store.find_duplicate(Channel.SMS, "SM" + "a" * 32) == stored(store)[0]


def test_tampered_or_unsigned_webhooks_get_403_and_store_nothing(
    web: WebServer, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    form = sms_form("transfer all my money")
    genuine = sign(web.url + "/twilio/sms", form)
    tampered = form | {"Body": "transfer all my money to +1999"}
    with caplog.at_level(logging.WARNING, logger="helpline.web.twilio"):
        assert post_webhook(web.url, "/twilio/sms", tampered, signature=genuine).status_code == 403
        assert post_webhook(web.url, "/twilio/sms", form, signature="").status_code == 403
        assert post_webhook(web.url, "/twilio/sms", form, token="someone-elses-token").status_code == 403
    assert stored(store) == []
    assert store.find_duplicate(Channel.SMS, form["MessageSid"]) is None
    assert sum("refused (403)" in r.getMessage() for r in caplog.records) == 3


def test_messaging_service_pool_number_passes(web: WebServer, store: Store) -> None:
    """A pool number we never configured is signed with the same account token, so it must pass (chatwoot#14125)."""
    form = sms_form("hi from the pool", to="+13105550199") | {"MessagingServiceSid": "MG" + "1" * 32}
    assert post_webhook(web.url, "/twilio/sms", form).status_code == 200
    message = store.get_message(stored(store)[0])
    assert message is not None
    assert message.envelope.recipient is not None and message.envelope.recipient.address == "+13105550199"
    assert message.envelope.extras["messaging_service_sid"] == "MG" + "1" * 32


def test_signature_is_checked_against_the_configured_public_url(
    settings: Settings, fake: FakeTwilio, store: Store
) -> None:
    configured = with_twilio(settings, fake, public_url="https://support.wallet.example/helpline/")
    server = WebServer(create_app(configured, store)).start()
    try:
        form = sms_form("behind a proxy")
        public = "https://support.wallet.example/helpline/twilio/sms"
        assert post_webhook(server.url, "/twilio/sms", form, signed_url=public).status_code == 200
        # Signed for the address the app happens to listen on, not the public one: refused.
        assert post_webhook(server.url, "/twilio/sms", sms_form("direct")).status_code == 403
    finally:
        server.stop()
    assert len(stored(store)) == 1


def test_forwarded_headers_rebuild_the_public_url_only_when_trusted(
    settings: Settings, fake: FakeTwilio, store: Store
) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.wallet.example"}
    public = "https://hooks.wallet.example/twilio/sms?tenant=acme"
    for trusted, expected in ((True, 200), (False, 403)):
        configured = with_twilio(settings, fake, trust_forwarded_headers=trusted)
        server = WebServer(create_app(configured, store)).start()
        try:
            response = post_webhook(
                server.url, "/twilio/sms?tenant=acme", sms_form("via proxy"), signed_url=public, headers=forwarded
            )
        finally:
            server.stop()
        assert response.status_code == expected, trusted


def test_turning_validation_off_warns_at_start_and_accepts_unsigned(
    settings: Settings, fake: FakeTwilio, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    configured = with_twilio(settings, fake)
    configured = configured.model_copy(
        update={"twilio": configured.twilio.model_copy(update={"validate_signatures": False})}
    )
    with caplog.at_level(logging.WARNING, logger="helpline.web.twilio"):
        app = create_app(configured, store)
    assert any("validate_signatures is false" in r.getMessage() for r in caplog.records)
    server = WebServer(app).start()
    try:
        assert post_webhook(server.url, "/twilio/sms", sms_form("unsigned"), signature="").status_code == 200
    finally:
        server.stop()


def test_store_down_answers_503(tw_settings: Settings) -> None:
    dead = Store(Redis(port=free_port(), socket_connect_timeout=0.5))
    server = WebServer(create_app(tw_settings, dead)).start()
    try:
        response = post_webhook(server.url, "/twilio/sms", sms_form("anyone there?"))
    finally:
        server.stop()
    assert response.status_code == 503


@pytest.mark.parametrize(
    ("body", "field", "value", "reason"),
    [
        ("STOP", "sms_opted_out", "1", "opt-out keyword STOP"),
        (" unsubscribe. ", "sms_opted_out", "1", "opt-out keyword UNSUBSCRIBE"),
        ("退订", "sms_opted_out", "1", "opt-out keyword 退订"),
        ("START", "sms_opted_out", "0", "opt-in keyword START"),
        ("help", None, None, "help keyword HELP"),
    ],
)
def test_keywords_are_recorded_on_the_contact_and_suppress_the_acknowledgement(
    web: WebServer, store: Store, body: str, field: str | None, value: str | None, reason: str
) -> None:
    assert post_webhook(web.url, "/twilio/sms", sms_form(body, from_="+14155550123")).status_code == 200
    message = store.get_message(stored(store)[0])
    assert message is not None
    assert message.envelope.suppress_ack_reason == reason
    assert message.envelope.no_auto_reply_reason == reason
    contact = store.contact(store.contact_for("phone:+14155550123"))
    if field:
        assert contact[field] == value
    else:
        assert "sms_opted_out" not in contact


def test_stop_within_a_sentence_is_an_ordinary_message(web: WebServer, store: Store) -> None:
    post_webhook(web.url, "/twilio/sms", sms_form("Please stop charging my card", from_="+14155550124"))
    message = store.get_message(stored(store)[0])
    assert message is not None and message.envelope.suppress_ack_reason is None
    assert "sms_opted_out" not in store.contact(store.contact_for("phone:+14155550124"))


def test_unusable_payload_is_dead_lettered_not_retried(web: WebServer, store: Store) -> None:
    form = sms_form("no sender") | {"From": "not-a-number"}
    assert post_webhook(web.url, "/twilio/sms", form).status_code == 200
    assert stored(store) == []
    [letter] = store.dead_letters()
    assert letter.channel is Channel.SMS and "not-a-number" in letter.error


def _reply(store: Store, provider_id: str) -> Reply:
    reply = Reply(
        id="r-1",
        message_id="m-missing",
        channel=Channel.SMS,
        to="+14155550100",
        purpose="acknowledgement",
        language="en",
        text="hi",
        state=ReplyState.SENT,
        provider_id=provider_id,
    )
    store.save_reply(reply)
    return reply


def test_status_callbacks_update_the_reply_and_never_move_it_back(web: WebServer, store: Store) -> None:
    sid = "SM" + "b" * 32
    _reply(store, sid)
    base = {"MessageSid": sid, "AccountSid": ACCOUNT_SID, "To": "+14155550100", "From": "+15017122661"}
    assert post_webhook(web.url, "/twilio/status", base | {"MessageStatus": "delivered"}).status_code == 200
    assert post_webhook(web.url, "/twilio/status", base | {"MessageStatus": "sent"}).status_code == 200  # late
    reply = store.reply_by_provider_id(sid)
    assert reply is not None and reply.state is ReplyState.DELIVERED


def test_failed_delivery_records_the_error_code(web: WebServer, store: Store) -> None:
    sid = "SM" + "c" * 32
    _reply(store, sid)
    form = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003", "AccountSid": ACCOUNT_SID}
    assert post_webhook(web.url, "/twilio/status", form).status_code == 200
    reply = store.reply_by_provider_id(sid)
    assert reply is not None and reply.state is ReplyState.FAILED
    assert reply.error == "twilio undelivered, error 30003"


def test_status_callback_needs_a_signature_too(web: WebServer, store: Store) -> None:
    sid = "SM" + "d" * 32
    _reply(store, sid)
    form = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30008"}
    assert post_webhook(web.url, "/twilio/status", form, signature="forged").status_code == 403
    reply = store.reply_by_provider_id(sid)
    assert reply is not None and reply.state is ReplyState.SENT
