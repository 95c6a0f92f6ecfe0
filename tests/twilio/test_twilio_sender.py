"""The Twilio sender: the real `twilio` REST client against the local fake Messages API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from channels.registry import sender_for
from channels.sms_text import segments
from channels.twilio import TwilioSender
from channels.twilio_session import record_inbound
from core.envelope import Channel, Envelope, Party
from core.errors import PermanentSendError, TransientSendError
from core.records import Reply, utcnow
from core.settings import Settings
from core.store import Store
from tests.support.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.support.ports import free_port

CUSTOMER = "+14155550100"
OUR_NUMBER = "+15017122661"


def configure(settings: Settings, base_url: str, **twilio: object) -> Settings:
    update = {"account_sid": ACCOUNT_SID, "auth_token": SecretStr(AUTH_TOKEN), "api_base_url": base_url} | twilio
    return settings.model_copy(update={"twilio": settings.twilio.model_copy(update=update)})


@pytest.fixture
def tw_settings(settings: Settings, fake: FakeTwilio) -> Settings:
    return configure(settings, fake.url)


def inbound(channel: Channel = Channel.SMS, sender: str = CUSTOMER, to: str = OUR_NUMBER, **kw: object) -> Envelope:
    return Envelope(channel=channel, provider_id="SM1", sender=Party(address=sender), recipient=Party(address=to), **kw)


def reply(text: str = "We got your message. Ref HL-1", channel: Channel = Channel.SMS, to: str = CUSTOMER) -> Reply:
    return Reply(
        id="r-1", message_id="m-1", channel=channel, to=to, purpose="acknowledgement", language="en", text=text
    )


def test_registry_serves_sms_whatsapp_and_voice_with_the_twilio_sender(tw_settings: Settings, store: Store) -> None:
    for channel in (Channel.SMS, Channel.WHATSAPP, Channel.VOICE):
        assert isinstance(sender_for(channel, tw_settings, store), TwilioSender)


def test_sms_reply_comes_from_the_number_the_customer_wrote_to(
    tw_settings: Settings, store: Store, fake: FakeTwilio
) -> None:
    sid = TwilioSender(tw_settings, store).send(reply(), inbound())
    [sent] = fake.messages
    assert sid == sent.sid and sid.startswith("SM")
    assert (sent.form["To"], sent.form["From"], sent.form["Body"]) == (
        CUSTOMER,
        OUR_NUMBER,
        "We got your message. Ref HL-1",
    )
    assert sent.account_sid == ACCOUNT_SID and sent.auth_user == ACCOUNT_SID
    assert "StatusCallback" not in sent.form  # no public URL configured: nowhere for Twilio to call back


def test_messaging_service_and_status_callback(settings: Settings, store: Store, fake: FakeTwilio) -> None:
    configured = configure(settings, fake.url, messaging_service_sid="MG" + "1" * 32)
    configured = configured.model_copy(
        update={"web": configured.web.model_copy(update={"public_url": "https://support.wallet.example"})}
    )
    TwilioSender(configured, store).send(reply(), inbound())
    [sent] = fake.messages
    assert sent.form["MessagingServiceSid"] == "MG" + "1" * 32 and "From" not in sent.form
    assert sent.form["StatusCallback"] == "https://support.wallet.example/twilio/status"


def test_whatsapp_reply_uses_whatsapp_addresses(tw_settings: Settings, store: Store, fake: FakeTwilio) -> None:
    original = inbound(Channel.WHATSAPP, sender="+8613800138000", to="+14155238886")
    TwilioSender(tw_settings, store).send(reply("您好", Channel.WHATSAPP, "+8613800138000"), original)
    [sent] = fake.messages
    assert (sent.form["To"], sent.form["From"]) == ("whatsapp:+8613800138000", "whatsapp:+14155238886")


def test_whatsapp_outside_the_24_hour_window_is_not_attempted(
    tw_settings: Settings, store: Store, fake: FakeTwilio
) -> None:
    original = inbound(Channel.WHATSAPP, sender="+8613800138001", received_at=utcnow() - timedelta(hours=25))
    with pytest.raises(PermanentSendError, match="24-hour window"):
        TwilioSender(tw_settings, store).send(reply(channel=Channel.WHATSAPP, to="+8613800138001"), original)
    assert fake.attempts == 0
    # The customer wrote again since: the window is open again for the same (older) message's reply.
    record_inbound(store, "+8613800138001", utcnow() - timedelta(minutes=5))
    TwilioSender(tw_settings, store).send(reply(channel=Channel.WHATSAPP, to="+8613800138001"), original)
    assert len(fake.messages) == 1


@pytest.mark.parametrize("channel", [Channel.SMS, Channel.VOICE])
def test_opted_out_contact_gets_no_sms(tw_settings: Settings, store: Store, fake: FakeTwilio, channel: Channel) -> None:
    store.set_contact_field(store.contact_for("phone:" + CUSTOMER), "sms_opted_out", "1")
    with pytest.raises(PermanentSendError, match="recipient opted out"):
        TwilioSender(tw_settings, store).send(reply(channel=channel), inbound(channel))
    assert fake.attempts == 0


def test_sms_opt_out_does_not_silence_whatsapp(tw_settings: Settings, store: Store, fake: FakeTwilio) -> None:
    store.set_contact_field(store.contact_for("phone:" + CUSTOMER), "sms_opted_out", "1")
    TwilioSender(tw_settings, store).send(reply(channel=Channel.WHATSAPP), inbound(Channel.WHATSAPP))
    assert len(fake.messages) == 1


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, 21211, PermanentSendError),
        (400, 21614, PermanentSendError),
        (400, 21610, PermanentSendError),
        (403, 20003, PermanentSendError),
        (429, 20429, TransientSendError),
        (500, 20500, TransientSendError),
        (503, 0, TransientSendError),
    ],
)
def test_twilio_errors_are_mapped(
    tw_settings: Settings, store: Store, fake: FakeTwilio, status: int, code: int, error: type[Exception]
) -> None:
    fake.fail_next(status, code, "scripted")
    with pytest.raises(error) as raised:
        TwilioSender(tw_settings, store).send(reply(), inbound())
    assert (str(code) in str(raised.value)) if code else str(status) in str(raised.value)


@pytest.mark.parametrize(
    ("channel", "field"), [(Channel.SMS, "sms_opted_out"), (Channel.WHATSAPP, "whatsapp_opted_out")]
)
def test_opted_out_at_twilio_marks_the_contact_and_nothing_more_is_attempted(
    tw_settings: Settings, store: Store, fake: FakeTwilio, channel: Channel, field: str
) -> None:
    """21610: the customer replied STOP to Twilio's Advanced Opt-Out (we never saw it)."""
    if channel is Channel.WHATSAPP:
        record_inbound(store, CUSTOMER, utcnow())
    sender = TwilioSender(tw_settings, store)
    fake.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    with pytest.raises(PermanentSendError, match="opted out"):
        sender.send(reply(channel=channel), inbound(channel))
    contact = store.contact(store.contact_for("phone:" + CUSTOMER))
    assert contact[field] == "1" and len([f for f in contact if f.endswith("_opted_out")]) == 1
    with pytest.raises(PermanentSendError, match="recipient opted out"):
        sender.send(reply(channel=channel), inbound(channel))
    assert fake.attempts == 1


def test_unreachable_twilio_is_transient(settings: Settings, store: Store) -> None:
    sender = TwilioSender(configure(settings, f"http://127.0.0.1:{free_port()}"), store)
    with pytest.raises(TransientSendError, match="unreachable"):
        sender.send(reply(), inbound())


def test_long_sms_is_shortened_to_the_segment_cap(tw_settings: Settings, store: Store, fake: FakeTwilio) -> None:
    long_text = "Thanks for writing to us about your card. " * 40
    TwilioSender(tw_settings, store).send(reply(long_text), inbound())
    body = fake.messages[0].form["Body"]
    assert segments(body) == tw_settings.twilio.max_sms_segments
    assert body.endswith("card... Thanks for writing to us about your card.")  # a short closing line survives
    chinese = "我们已收到您的消息，会尽快回复您。" * 20 + "回复TD退订"
    TwilioSender(tw_settings, store).send(reply(chinese), inbound())
    body = fake.messages[1].form["Body"]
    assert segments(body) <= tw_settings.twilio.max_sms_segments and body.endswith("回复您…回复TD退订")


def test_voicemail_caller_on_a_mobile_gets_an_sms_from_the_number_they_called(
    tw_settings: Settings, store: Store, fake: FakeTwilio
) -> None:
    original = inbound(Channel.VOICE, sender="+8613800138000", to=OUR_NUMBER)
    TwilioSender(tw_settings, store).send(reply(channel=Channel.VOICE, to="+8613800138000"), original)
    [sent] = fake.messages
    assert (sent.form["To"], sent.form["From"]) == ("+8613800138000", OUR_NUMBER)


def test_voicemail_caller_on_a_landline_gets_no_sms(tw_settings: Settings, store: Store, fake: FakeTwilio) -> None:
    landline = "+442079460000"  # London fixed line
    with pytest.raises(PermanentSendError, match="not a mobile"):
        TwilioSender(tw_settings, store).send(
            reply(channel=Channel.VOICE, to=landline), inbound(Channel.VOICE, landline)
        )
    assert fake.attempts == 0


def test_unconfigured_twilio_is_a_permanent_failure(settings: Settings, store: Store) -> None:
    with pytest.raises(PermanentSendError, match="not configured"):
        TwilioSender(settings, store).send(reply(), inbound())
