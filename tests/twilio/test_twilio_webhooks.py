"""SMS/WhatsApp/status webhooks over real HTTP (uvicorn), signed like Twilio signs them, into the real store."""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime
from urllib.parse import urlencode

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
from tests.support.work import drain
from web.app import create_app


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


def test_messaging_service_pool_number_passes(settings: Settings, fake: FakeTwilio, store: Store) -> None:
    """A pool number we never configured is signed with the same account token, so it must pass (chatwoot#14125),
    and the acknowledgement goes back through the Messaging Service, not from a configured number."""
    pool = "MG" + "1" * 32
    configured = with_twilio(settings, fake)
    configured = configured.model_copy(
        update={
            "twilio": configured.twilio.model_copy(update={"messaging_service_sid": pool, "sms_from": "+15017122661"})
        }
    )
    server = WebServer(create_app(configured, store)).start()
    try:
        form = sms_form("hi from the pool", from_="+14155550177", to="+13105550199") | {"MessagingServiceSid": pool}
        assert form["To"] not in (configured.twilio.sms_from, configured.twilio.whatsapp_from)
        assert post_webhook(server.url, "/twilio/sms", form).status_code == 200
    finally:
        server.stop()
    message = store.get_message(stored(store)[0])
    assert message is not None
    assert message.envelope.recipient is not None and message.envelope.recipient.address == "+13105550199"
    assert message.envelope.extras["messaging_service_sid"] == pool
    drain(configured)
    [sent] = fake.messages
    assert sent.form["To"] == "+14155550177" and sent.form["MessagingServiceSid"] == pool and "From" not in sent.form


def test_sms_to_a_short_code_is_stored_and_answered_from_it(
    web: WebServer, tw_settings: Settings, store: Store, fake: FakeTwilio
) -> None:
    form = sms_form("my card is blocked", from_="+14155550178", to="89898")
    assert post_webhook(web.url, "/twilio/sms", form).status_code == 200
    assert store.dead_letters() == []
    message = store.get_message(stored(store)[0])
    assert message is not None and message.envelope.recipient is not None
    assert message.envelope.recipient.address == "89898"
    drain(tw_settings)
    [sent] = fake.messages
    assert (sent.form["To"], sent.form["From"]) == ("+14155550178", "89898")


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
        ("help", "sms_last_help_at", None, "help keyword HELP"),
        ("帮助", "sms_last_help_at", None, "help keyword 帮助"),
    ],
)
def test_keywords_are_recorded_on_the_contact_and_suppress_the_acknowledgement(
    web: WebServer, store: Store, body: str, field: str, value: str | None, reason: str
) -> None:
    form = sms_form(body, from_="+14155550123")
    assert post_webhook(web.url, "/twilio/sms", form).status_code == 200
    message = store.get_message(stored(store)[0])
    assert message is not None
    assert message.envelope.suppress_ack_reason == reason
    assert message.envelope.no_auto_reply_reason == reason
    contact = store.contact(store.contact_for("phone:+14155550123"))
    if value is not None:
        assert contact[field] == value
    else:  # HELP: when the customer asked, and it did not opt them in or out
        assert datetime.fromisoformat(contact[field]) == message.envelope.received_at
        assert "sms_opted_out" not in contact


def test_whatsapp_help_is_recorded_apart_from_sms(web: WebServer, store: Store) -> None:
    assert post_webhook(web.url, "/twilio/sms", whatsapp_form("HELP", from_="+8613800138000")).status_code == 200
    contact = store.contact(store.contact_for("phone:+8613800138000"))
    assert "whatsapp_last_help_at" in contact and "sms_last_help_at" not in contact


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
    assert letter.meta == {"endpoint": "/twilio/sms", "query": {}}
    assert store.dead_letter_raw(letter.id) == urlencode(form).encode()


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


def test_concurrent_status_callbacks_leave_every_reply_at_its_latest_state(web: WebServer, store: Store) -> None:
    """Twilio posts sent/delivered for one message within milliseconds, on separate connections, in any order."""
    sids = [f"SM{i:032x}" for i in range(8)]
    for i, sid in enumerate(sids):
        store.save_reply(
            Reply(id=f"r-{i}", message_id="m-missing", channel=Channel.SMS, to="+14155550100",
                  purpose="acknowledgement", language="en", text="hi", provider_id=sid)
        )  # fmt: skip
    posts = [(sid, status) for sid in sids for status in ["delivered"] + ["sent", "queued"] * 4]
    random.Random(7).shuffle(posts)
    answers: list[int] = []

    def post_all(chunk: list[tuple[str, str]]) -> None:
        for sid, status in chunk:
            form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT_SID, "To": "+14155550100"}
            answers.append(post_webhook(web.url, "/twilio/status", form).status_code)

    threads = [threading.Thread(target=post_all, args=(posts[i::12],)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * len(posts)
    states = {sid: reply.state for sid in sids if (reply := store.reply_by_provider_id(sid)) is not None}
    assert states == dict.fromkeys(sids, ReplyState.DELIVERED)


def test_status_that_beats_the_worker_is_applied_when_the_reply_is_saved(web: WebServer, store: Store) -> None:
    sid = "SM" + "e" * 32
    form = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID, "To": "+14155550100"}
    assert post_webhook(web.url, "/twilio/status", form).status_code == 200
    assert store.reply_by_provider_id(sid) is None  # the worker has not saved the SID Twilio returned yet
    _reply(store, sid)  # ... now it does, as `sent`
    reply = store.reply_by_provider_id(sid)
    assert reply is not None and reply.state is ReplyState.DELIVERED


@pytest.mark.parametrize(
    ("to", "field"), [("+14155550111", "sms_opted_out"), ("whatsapp:+14155550111", "whatsapp_opted_out")]
)
def test_delivery_failed_as_unsubscribed_marks_the_contact_opted_out(
    web: WebServer, store: Store, to: str, field: str
) -> None:
    sid = "SM" + "f" * 32
    _reply(store, sid)
    form = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "21610", "AccountSid": ACCOUNT_SID, "To": to}
    assert post_webhook(web.url, "/twilio/status", form).status_code == 200
    contact = store.contact(store.contact_for("phone:+14155550111"))
    assert contact[field] == "1" and len([f for f in contact if f.endswith("_opted_out")]) == 1
    reply = store.reply_by_provider_id(sid)
    assert reply is not None and reply.state is ReplyState.FAILED and reply.error == "twilio failed, error 21610"
