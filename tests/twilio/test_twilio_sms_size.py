"""SMS-sized acknowledgements: one segment when there is nothing extra to say, even with the longest shipped team
label, reference and response time; notices, missing details and the secrets warning add segments up to
`[twilio] max_sms_segments`, and the sender shortens beyond that without losing the notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from channels.sms_text import fit, is_gsm7, segments
from core.ids import new_id
from core.records import StoredMessage
from core.settings import Settings
from router.details import REQUIRED, labels
from templates import render
from workers.acknowledge import reference_for
from workers.eta import _ZONE_NAMES, describe

# Twilio sends no name with an SMS or a call (ProfileName is WhatsApp's); a caller's name would only ever be dropped.
NOTICE = {
    "en": "Top-ups by bank card are delayed by up to 2 hours while our bank partner performs maintenance.",
    "zh": "银行卡充值因合作银行系统维护，到账可能延迟最多 2 小时。",
}  # the example in settings.toml [[notices.items]]
SECOND_NOTICE = {
    "en": "Card payments at some shops may fail from 02:00 to 04:00 China time on 12 March (maintenance).",
    "zh": "3月12日02:00至04:00（北京时间）系统维护，部分商户卡支付可能失败。",
}
CLOSING = {"en": "Reply STOP to opt out.", "zh": "回复TD退订"}
SMS_CHANNELS = ("sms", "voice")  # a voicemail or missed call is acknowledged by SMS


def a_reference() -> str:
    """References all have the same length: HL- and the 8 random hex digits of the conversation id."""
    message = StoredMessage.model_validate(
        {"id": "m-1", "envelope": {"channel": "sms", "provider_id": "SM1", "sender": {"address": "+1"}}}
    )
    message.conversation_id = new_id("t")
    return reference_for(message)


REFERENCE = a_reference()


def worst_etas(language: str) -> list[str]:
    """The longest relative promise and the longest clock time (every day of a year, every named zone)."""
    start = datetime(2026, 1, 1, 10, 45, tzinfo=UTC)
    relative = [describe(timedelta(minutes=m), start + timedelta(minutes=m), ZoneInfo("UTC")) for m in (55, 61, 479)]
    clocks = [
        describe(timedelta(days=2), start + timedelta(days=day, hours=8), ZoneInfo(zone))
        for zone in _ZONE_NAMES
        for day in range(366)
    ]
    pick = 1 if language == "zh" else 0
    return [max((eta[pick] for eta in group), key=len) for group in (relative, clocks)]


def context(settings: Settings, language: str, team: str, eta: str, **extra: Any) -> dict[str, Any]:
    return {
        "reference": REFERENCE,
        "subject": "",
        "name": "",
        "team": team,
        "signature": settings.email.outbound.sender_name,
        "category": "general",
        "channel": "sms",
        "eta_text": eta,
        "missing_details": [],
        "sensitive_warning": False,
        "notices": [],
    } | extra


def team_labels(settings: Settings, language: str) -> list[str]:
    return sorted({getattr(category, f"label_{language}") for category in settings.router.categories.values()})


@pytest.mark.parametrize("channel", SMS_CHANNELS)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_plain_acknowledgement_is_one_segment_and_tells_the_response_time(
    settings: Settings, channel: str, language: str
) -> None:
    teams = team_labels(settings, language)
    assert max(len(team) for team in teams) >= (17 if language == "en" else 5)  # "Verification team", "身份审核组"
    for team in teams:
        for eta in worst_etas(language):
            text = render("acknowledgement", channel, language, context(settings, language, team, eta)).text
            assert segments(text) == 1, (text, segments(text))
            assert is_gsm7(text) is (language == "en"), text  # English stays in the 160-character alphabet
            assert eta in text and team in text and REFERENCE in text, text


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_name_or_the_opt_out_hint_give_way_before_the_response_time(settings: Settings, language: str) -> None:
    team = max(team_labels(settings, language), key=len)
    relative, clock = worst_etas(language)
    roomy = render("acknowledgement", "sms", language, context(settings, language, team, relative)).text
    assert roomy.endswith(CLOSING[language])
    long_name = "Bartholomew Montgomery-Smythe" if language == "en" else "欧阳娜娜"
    named = render("acknowledgement", "sms", language, context(settings, language, team, clock, name=long_name)).text
    assert segments(named) == 1 and clock in named and long_name not in named


@pytest.mark.parametrize("channel", SMS_CHANNELS)
@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize(
    "extra",
    [
        {"notices": "notice"},
        {"sensitive_warning": True},
        {"missing_details": "all"},
        {"notices": "notice", "sensitive_warning": True},
    ],
    ids=["notice", "secrets-warning", "missing-details", "notice-and-warning"],
)
def test_each_addition_fits_the_segment_cap(
    settings: Settings, channel: str, language: str, extra: dict[str, Any]
) -> None:
    values = dict(extra)
    if values.get("notices"):
        values["notices"] = [NOTICE[language]]
    if values.get("missing_details"):
        values["missing_details"] = labels(list(REQUIRED), language)
    team = max(team_labels(settings, language), key=len)
    eta = worst_etas(language)[1]
    text = render("acknowledgement", channel, language, context(settings, language, team, eta, **values)).text
    assert 1 < segments(text) <= settings.twilio.max_sms_segments, (text, segments(text))
    assert fit(text, settings.twilio.max_sms_segments) == text  # the sender sends it whole
    if values.get("notices"):
        assert NOTICE[language] in text


@pytest.mark.parametrize("channel", SMS_CHANNELS)
@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("eta_kind", [0, 1], ids=["relative-eta", "clock-eta"])
def test_everything_at_once_is_shortened_by_the_sender_keeping_the_notices(
    settings: Settings, channel: str, language: str, eta_kind: int
) -> None:
    team = max(team_labels(settings, language), key=len)
    clock = worst_etas(language)[eta_kind]
    notices = [NOTICE[language], SECOND_NOTICE[language]]
    everything = context(
        settings, language, team, clock, notices=notices, sensitive_warning=True,
        missing_details=labels(list(REQUIRED), language),
    )  # fmt: skip
    text = render("acknowledgement", channel, language, everything).text
    cap = settings.twilio.max_sms_segments
    assert segments(text) > cap  # the worst case really is too long
    sent = fit(text, cap)
    assert segments(sent) <= cap and is_gsm7(sent) is (language == "en")
    assert all(notice in sent for notice in notices) and REFERENCE in sent and clock in sent
    # The opt-out hint (there when the opening left room for it) survives the cut; the missing details are what go.
    assert sent.endswith(CLOSING[language]) is text.endswith(CLOSING[language])
    assert sent.endswith(CLOSING[language]) or eta_kind == 1


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_sms_survey_is_one_segment(settings: Settings, language: str) -> None:
    text = render("survey", "sms", language, context(settings, language, "", "")).text
    assert segments(text) == 1 and REFERENCE in text
