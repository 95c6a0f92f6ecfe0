"""Pure pieces of the Twilio adapter: phone numbers, keywords, SMS segment fitting, envelopes from forms."""

from __future__ import annotations

import pytest

from channels.sms_text import fit, is_gsm7, segments, truncate
from core.envelope import Channel
from core.phone import NotAPhoneNumber, may_receive_sms, parse_address
from ingest.twilio.keywords import KeywordAction, keyword_in
from ingest.twilio.messaging import message_envelope
from ingest.twilio.voicemail import voicemail_envelope
from tests.support.fake_twilio import sms_form


@pytest.mark.parametrize(
    ("raw", "e164", "whatsapp"),
    [
        ("+14155550100", "+14155550100", False),
        ("+1 (415) 555-0100", "+14155550100", False),
        ("whatsapp:+8613800138000", "+8613800138000", True),
        ("WhatsApp:+86 138 0013 8000", "+8613800138000", True),
        ("4155550100", "+14155550100", False),  # no +: the default region (US)
    ],
)
def test_addresses_normalise_to_e164(raw: str, e164: str, whatsapp: bool) -> None:
    address = parse_address(raw, "US")
    assert (address.e164, address.whatsapp) == (e164, whatsapp)


@pytest.mark.parametrize("raw", ["Anonymous", "+266696687", "", "whatsapp:"])
def test_withheld_and_junk_caller_ids_are_not_numbers(raw: str) -> None:
    with pytest.raises(NotAPhoneNumber):
        parse_address(raw)


def test_mobile_detection() -> None:
    assert may_receive_sms("+8613800138000")  # CN mobile
    assert may_receive_sms("+14155550100")  # NANP: fixed line or mobile, cannot tell
    assert not may_receive_sms("+442079460000")  # London fixed line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", (KeywordAction.OPT_OUT, "STOP")),
        ("stop.", (KeywordAction.OPT_OUT, "STOP")),
        ("  Unsubscribe ", (KeywordAction.OPT_OUT, "UNSUBSCRIBE")),
        ("td", (KeywordAction.OPT_OUT, "TD")),
        ("退订", (KeywordAction.OPT_OUT, "退订")),
        ("退订。", (KeywordAction.OPT_OUT, "退订")),
        ("ＳＴＯＰ", (KeywordAction.OPT_OUT, "STOP")),  # full-width letters from a Chinese keyboard
        ("unstop", (KeywordAction.OPT_IN, "UNSTOP")),
        ("Help!", (KeywordAction.HELP, "HELP")),
        ("帮助", (KeywordAction.HELP, "帮助")),
        ("stop sending me this", None),
        ("yes", None),
        ("", None),
    ],
)
def test_keywords(text: str, expected: tuple[KeywordAction, str] | None) -> None:
    assert keyword_in(text) == expected


def test_segments_follow_the_encoding() -> None:
    assert is_gsm7("Hello {world} €") and not is_gsm7("Hello “world”")
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2 and segments("a" * 306) == 2
    assert segments("[" * 80) == 1 and segments("[" * 81) == 2  # extension characters take two septets
    assert segments("中" * 70) == 1 and segments("中" * 71) == 2 and segments("中" * 134) == 2


def test_fit_keeps_short_text_and_shortens_long_text_at_a_boundary() -> None:
    assert fit("  short  ", 1) == "short"
    text = "First sentence here. " + "word " * 200
    shortened = fit(text, 2)
    assert segments(shortened) <= 2 and shortened.endswith("word...")
    chinese = fit("充值没到账。" * 50, 1)
    assert segments(chinese) == 1 and chinese.endswith("充值没到账…充值没到账。")  # the short last sentence stays
    with_version = fit("Version 1.5 is out. " + "We fixed many things. " * 30 + "Reply STOP to opt out.", 1)
    assert segments(with_version) == 1 and with_version.endswith("things... Reply STOP to opt out.")
    assert len(truncate("x " * 1000)) <= 1600


def test_envelope_from_an_sms_form_keeps_the_raw_addresses_and_useful_fields() -> None:
    form = sms_form("hi", from_="+14155550100", to="+15017122661") | {"FromCity": "SAN FRANCISCO"}
    envelope = message_envelope(form)
    assert envelope.channel is Channel.SMS and envelope.provider_id == form["MessageSid"]
    assert envelope.extras["from_city"] == "SAN FRANCISCO" and envelope.extras["num_segments"] == "1"
    assert envelope.suppress_ack_reason is None


def test_withheld_caller_voicemail_is_stored_but_never_acknowledged() -> None:
    envelope = voicemail_envelope(
        {"RecordingSid": "RE1", "From": "Anonymous", "To": "+15017122661", "RecordingUrl": ""},
        None,
        language="en",
        category=None,
    )
    assert envelope.sender.address == "anonymous" and envelope.suppress_ack_reason == "caller id withheld"
    assert envelope.attachments == []
