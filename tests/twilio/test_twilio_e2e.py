"""End to end: a signed webhook over HTTP -> stored envelope -> worker pipeline (drained in-process) -> decision ->
acknowledgement sent by the real twilio client to the fake Messages API -> delivery status back over HTTP."""

from __future__ import annotations

from channels.sms_text import segments
from core.envelope import Channel
from core.records import MessageState, ReplyState, StoredMessage
from core.settings import Settings
from core.store import Store
from tests.support.fake_twilio import ACCOUNT_SID, FakeTwilio, post_webhook, sms_form, whatsapp_form
from tests.support.web_server import WebServer
from tests.support.work import drain

CUSTOMER = "+8613800138000"
SMS_NUMBER = "+15017122661"
WHATSAPP_NUMBER = "+14155238886"


def only_message(store: Store, provider_id: str, channel: Channel = Channel.SMS) -> StoredMessage:
    message_id = store.find_duplicate(channel, provider_id)
    assert message_id is not None
    message = store.get_message(message_id)
    assert message is not None
    return message


def test_inbound_sms_is_routed_and_acknowledged_by_sms(
    web: WebServer, tw_settings: Settings, store: Store, fake: FakeTwilio
) -> None:
    form = sms_form("My top up has not arrived", from_=CUSTOMER, to=SMS_NUMBER)
    assert post_webhook(web.url, "/twilio/sms", form).status_code == 200
    drain(tw_settings)

    message = only_message(store, form["MessageSid"])
    assert message.state is MessageState.ROUTED and message.ack_status == "sent"
    assert message.decision is not None and message.decision.category == "top_up"
    assert message.contact_id == store.contact_for("phone:" + CUSTOMER)
    [sent] = fake.messages
    assert (sent.form["To"], sent.form["From"]) == (CUSTOMER, SMS_NUMBER)
    assert "HL-" in sent.form["Body"] and "STOP" in sent.form["Body"]

    reply = store.reply_by_provider_id(sent.sid)
    assert reply is not None and reply.state is ReplyState.SENT
    status = {"MessageSid": sent.sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    assert post_webhook(web.url, "/twilio/status", status).status_code == 200
    delivered = store.reply_by_provider_id(sent.sid)
    assert delivered is not None and delivered.state is ReplyState.DELIVERED


def test_whatsapp_is_acknowledged_in_chinese_and_shares_the_contact_with_sms(
    web: WebServer, tw_settings: Settings, store: Store, fake: FakeTwilio
) -> None:
    sms = sms_form("hello", from_=CUSTOMER, to=SMS_NUMBER)
    whatsapp = whatsapp_form("我的卡被盗刷了", from_=CUSTOMER, to=WHATSAPP_NUMBER)
    assert post_webhook(web.url, "/twilio/sms", sms).status_code == 200
    assert post_webhook(web.url, "/twilio/sms", whatsapp).status_code == 200
    drain(tw_settings)

    by_sms = only_message(store, sms["MessageSid"])
    by_whatsapp = only_message(store, whatsapp["MessageSid"], Channel.WHATSAPP)
    assert by_sms.contact_id == by_whatsapp.contact_id == store.contact_for("phone:" + CUSTOMER)
    assert by_whatsapp.decision is not None and by_whatsapp.decision.category == "security"
    [to_whatsapp] = [m for m in fake.messages if m.form["To"].startswith("whatsapp:")]
    assert to_whatsapp.form["From"] == "whatsapp:" + WHATSAPP_NUMBER
    assert to_whatsapp.form["To"] == "whatsapp:" + CUSTOMER
    assert "已收到您的消息" in to_whatsapp.form["Body"]
    [to_sms] = [m for m in fake.messages if m.form["To"] == CUSTOMER]
    assert segments(to_sms.form["Body"]) == 1  # "hello" asks for nothing more: one segment, response time included
    assert "will reply within" in to_sms.form["Body"] or "will reply by" in to_sms.form["Body"]


def test_stop_is_never_acknowledged_and_silences_later_sms(
    web: WebServer, tw_settings: Settings, store: Store, fake: FakeTwilio
) -> None:
    stop = sms_form("STOP", from_=CUSTOMER)
    assert post_webhook(web.url, "/twilio/sms", stop).status_code == 200
    drain(tw_settings)
    assert only_message(store, stop["MessageSid"]).ack_status == "suppressed: opt-out keyword STOP"

    later = sms_form("my card was stolen", from_=CUSTOMER)
    assert post_webhook(web.url, "/twilio/sms", later).status_code == 200
    drain(tw_settings)
    message = only_message(store, later["MessageSid"])
    assert message.state is MessageState.ROUTED  # agents still see it
    assert message.ack_status == "failed: recipient opted out"
    assert fake.attempts == 0


def test_rate_limited_acknowledgement_is_retried(
    web: WebServer, tw_settings: Settings, store: Store, fake: FakeTwilio
) -> None:
    fake.fail_next(429, 20429, "Too Many Requests")
    form = sms_form("hello there", from_=CUSTOMER)
    assert post_webhook(web.url, "/twilio/sms", form).status_code == 200
    drain(tw_settings, include_scheduled=True)
    assert fake.attempts == 2
    assert only_message(store, form["MessageSid"]).ack_status == "sent"


def test_voicemail_menu_choice_routes_without_keywords_and_is_acknowledged_by_sms(
    web: WebServer, tw_settings: Settings, store: Store, fake: FakeTwilio
) -> None:
    sid = "RE" + "7" * 32
    form = {
        "CallSid": "CA" + "7" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": CUSTOMER,
        "To": SMS_NUMBER,
        "RecordingSid": sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}",
        "RecordingDuration": "9",
    }
    assert post_webhook(web.url, "/twilio/voice/recording?lang=zh&category=security", form).status_code == 200
    drain(tw_settings)

    message = only_message(store, form["CallSid"], Channel.VOICE)
    assert message.decision is not None and message.decision.category == "security"
    assert message.contact_id == store.contact_for("phone:" + CUSTOMER)
    [sent] = fake.messages
    assert (sent.form["To"], sent.form["From"]) == (CUSTOMER, SMS_NUMBER)
    assert "已收到来电" in sent.form["Body"]


def test_missed_call_is_routed_and_the_caller_gets_an_sms(
    web: WebServer, tw_settings: Settings, store: Store, fake: FakeTwilio
) -> None:
    call = {"CallSid": "CA" + "8" * 32, "AccountSid": ACCOUNT_SID, "From": CUSTOMER, "To": SMS_NUMBER}
    assert post_webhook(web.url, "/twilio/voice/menu?lang=en&attempt=1", call | {"Digits": "2"}).status_code == 200
    status = call | {"CallStatus": "completed", "CallDuration": "15", "Direction": "inbound"}
    assert post_webhook(web.url, "/twilio/voice/status", status).status_code == 200
    drain(tw_settings)

    message = only_message(store, call["CallSid"], Channel.VOICE)
    assert message.state is MessageState.ROUTED and message.ack_status == "sent"
    assert message.decision is not None and message.decision.category == "top_up"
    assert message.envelope.extras["missed_call"] is True
    [sent] = fake.messages
    assert (sent.form["To"], sent.form["From"]) == (CUSTOMER, SMS_NUMBER)
    assert "HL-" in sent.form["Body"]
