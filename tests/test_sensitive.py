from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import sensitive
from core.sensitive import (
    CARD_NUMBER,
    CARD_SECURITY_CODE,
    LARGE_TEXT,
    ONE_TIME_CODE,
    PASSWORD,
    is_card_number,
    luhn_ok,
    mask_sensitive,
)
from tests.support.pattern_pieces import differing, texts_of


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("验证码 123456", "123456"),
        ("您的验证码为482913，5分钟内有效", "482913"),
        ("验证码：１２３４５６", "１２３４５６"),
        ("我的OTP是778899", "778899"),
        ("OTP is 482913", "482913"),
        ("code: 1234", "1234"),
        ("The verification code was 5531 but it expired", "5531"),
        ("My one-time password: 90817263", "90817263"),
        ("482913 is my verification code", "482913"),
        ("123456是我的验证码", "123456"),
        ("短信验证码是 6543", "6543"),
    ],
)
def test_one_time_codes_are_masked(text: str, secret: str) -> None:
    masked = mask_sensitive(text)
    assert secret not in masked.text
    assert "*" * len(secret) in masked.text
    assert masked.kinds == [ONE_TIME_CODE]


@pytest.mark.parametrize(
    "text",
    [
        "I got error code 1234 when paying",
        "my zip code 100000",
        "promo code 2026 did not work",
        "I paid 1234 yuan yesterday",
        "order 12345678 has not arrived",
        "call me on 13812345678",
    ],
)
def test_harmless_numbers_are_kept(text: str) -> None:
    masked = mask_sensitive(text)
    assert masked.text == text
    assert masked.kinds == []


# SMef35779079654529b1dabc874614b86e holds 35779079654529, a 14-digit run with a card's prefix that passes Luhn.
TWILIO_SID = "SMef35779079654529b1dabc874614b86e"


@pytest.mark.parametrize(
    "text",
    [
        f"MessageSid={TWILIO_SID}&Body=hi",  # a raw Twilio payload: its SID must survive to be replayed
        f"SmsSid={TWILIO_SID.upper()[2:]}",
        "trace 3577907965452900aa11bb22cc33dd44",  # a hash's hex
    ],
)
def test_a_card_shaped_run_inside_a_machine_id_is_kept(text: str) -> None:
    assert is_card_number("35779079654529")
    assert mask_sensitive(text).text == text


@pytest.mark.parametrize(
    "text", ["card4111111111111111", "卡号4111111111111111", "num=4111111111111111&x", "x 4111111111111111abc"]
)
def test_a_card_glued_to_words_is_still_masked(text: str) -> None:
    masked = mask_sensitive(text)
    assert "4111111111111111" not in masked.text and masked.kinds == [CARD_NUMBER]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("password: hunter2", "hunter2"),
        ("my password is hunter2.", "hunter2"),
        ("密码是abc123", "abc123"),
        ("支付密码：886622，请帮我看看", "886622"),
        ("pwd = s3cret!x", "s3cret!x"),
    ],
)
def test_passwords_are_masked(text: str, secret: str) -> None:
    masked = mask_sensitive(text)
    assert secret not in masked.text
    assert "********" in masked.text
    assert masked.kinds == [PASSWORD]


@pytest.mark.parametrize("text", ["my password is not working", "密码错误，无法登录", "I forgot my password and"])
def test_talking_about_a_password_is_not_a_secret(text: str) -> None:
    masked = mask_sensitive(text)
    assert masked.text == text and masked.kinds == []


def test_one_time_password_is_a_code_not_also_a_password() -> None:
    masked = mask_sensitive("动态密码 123456")
    assert masked.text == "动态密码 ******" and masked.kinds == [ONE_TIME_CODE]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 please", "card **** **** **** 1111 please"),
        ("卡号6222021234567890128被盗刷", "卡号***************0128被盗刷"),
        ("visa 4111-1111-1111-1111 exp 2027", "visa ****-****-****-1111 exp 2027"),
        ("amex 378282246310005", "amex ***********0005"),
    ],
)
def test_card_numbers_keep_the_last_four(text: str, expected: str) -> None:
    masked = mask_sensitive(text)
    assert masked.text == expected
    assert masked.kinds == [CARD_NUMBER]


def test_numbers_failing_luhn_or_scheme_are_not_cards() -> None:
    assert mask_sensitive("ref 4111111111111112").kinds == []  # Luhn fails
    assert mask_sensitive("order 2026030512345678").kinds == []  # no card scheme starts 2026
    assert mask_sensitive("call +4111111111111111").kinds == []  # after +: a phone number


def test_cvv_and_several_kinds_in_one_message() -> None:
    text = "Card 5555 5555 5555 4444, CVV 123, and the OTP is 998877"
    masked = mask_sensitive(text)
    assert masked.text == "Card **** **** **** 4444, CVV ***, and the OTP is ******"
    assert masked.kinds == [CARD_NUMBER, ONE_TIME_CODE, CARD_SECURITY_CODE]
    assert masked.found


def test_luhn() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    assert is_card_number("6222021234567890128") is luhn_ok("6222021234567890128")


def test_a_long_run_of_numbers_is_scanned_quickly_and_cards_inside_it_are_found() -> None:
    text = " ".join(["12"] * 20000) + " 4111 1111 1111 1111"
    masked = mask_sensitive(text)  # cubic scanning would take minutes here
    assert masked.text.endswith("**** **** **** 1111") and masked.kinds == [CARD_NUMBER]


@pytest.mark.parametrize(
    ("text", "secret"),
    [("My password is: hunter2", "hunter2"), ("password = s3cret!", "s3cret"), ("我的密码是：Abc12345", "Abc12345"),
     ("密码为：abc123x", "abc123x"), ("密码：Zz9988", "Zz9988")],
)  # fmt: skip
def test_password_separators(text: str, secret: str) -> None:
    masked = mask_sensitive(text)
    assert secret not in masked.text and masked.kinds == [PASSWORD]


@pytest.mark.parametrize(
    "text", ["order code 58213377", "transaction code: 20260305", "error code 1234", "ticket code 7781"]
)
def test_codes_that_identify_things_are_kept(text: str) -> None:
    assert mask_sensitive(text).text == text


@pytest.mark.parametrize(
    "text",
    ["my authenticator app shows code 482913", "the bank app says verification code 482913", "OTP 482913 from the app"],
)
def test_an_explicit_code_word_is_never_harmless(text: str) -> None:
    masked = mask_sensitive(text)
    assert "482913" not in masked.text and masked.kinds == [ONE_TIME_CODE]


def test_a_long_password_is_masked_too() -> None:
    masked = mask_sensitive("password: " + "a" * 65)
    assert "a" * 65 not in masked.text and masked.kinds == [PASSWORD]


def test_a_large_text_is_masked_around_its_cues_exactly_as_its_lines_would_be() -> None:
    """Above LARGE_TEXT only the stretches around cue words and digit runs are scanned: the result must be what
    masking each line alone gives, wherever the secrets fall (at the start, deep inside, at the end)."""
    lines = [
        "card 4111 1111 1111 1111 charged twice",
        "My password is: hunter2",
        "Order 2026-0312 amount 100.00 status ok, contact us at the shop",
        "验证码：１２３４５６",
        "cvv 123 and pin code 4455",
        "error code 1234 is not a secret",
        "the verification code is 482913.",
        "call +4111111111111111 tomorrow",
        "Your passcode is 778899, the authcode: 5566 and the one-time pin 3344",  # code words glued to others
        "contact shipping to decide",  # "tac", "pin", "cid" inside words: no cue
    ]
    filler = "<td>filler text 100.00</td>"
    text = "\n".join(lines[(i // 50) % len(lines)] if i % 50 == 0 else filler for i in range(6000))
    assert len(text) > LARGE_TEXT
    expected = "\n".join(mask_sensitive(line).text for line in text.split("\n"))
    masked = mask_sensitive(text)
    assert masked.text == expected
    assert masked.kinds == [CARD_NUMBER, ONE_TIME_CODE, CARD_SECURITY_CODE, PASSWORD]
    one_line = "x " * 40_000 + "my password: hunter2 " + "y " * 40_000  # no line break to cut at: blanks will do
    assert "hunter2" not in mask_sensitive(one_line).text


# The code and password words, and what stands around them in a message, to be joined in any order.
_SECRET_PIECES = [
    "otp", "OTP", "one-time ", "verification", "verify", "security ", "sms", "2fa", "mfa", "login ", "sign-in ",
    "access", "auth", "code", "PIN", "tac", "password", "pwd", "pass ", "word", "验证码", "短信", "驗證碼", "校验码",
    "动态", "一次性", "确认码", "授权码", "码", "密码", "密碼", "是", "我的", " is ", "your ", ": ", "-", "123456",
    "12", "x", "n", "OTP码", "login pin",
]  # fmt: skip


def test_look_aheads_keep_every_match() -> None:
    """The look-aheads in front of the code and password patterns, and a code's "not after a digit" checked after
    its first digit, only say where a match can start: on every text of up to three pieces, the same matches as the
    patterns without them."""
    first_digit_after, first_digit_before = r"(?P<v>\d(?<!\d\d)\d{3,7})", r"(?<!\d)(?P<v>\d{4,8})"
    pairs = [
        (pattern, re.compile(pattern.pattern.removeprefix(starts).replace(first_digit_after, first_digit_before), re.I))
        for pattern, starts in [
            (sensitive._CODE_AFTER, sensitive._CODE_WORD_STARTS),
            (sensitive._CODE_BEFORE, ""),
            (sensitive._PASSWORD, sensitive._PASSWORD_WORD_STARTS),
        ]
    ]
    assert all(pattern.pattern != without.pattern for pattern, without in pairs)
    assert differing(pairs, texts_of(_SECRET_PIECES)) == []


def test_a_cue_is_found_wherever_its_patterns_match() -> None:
    """A pattern runs only where its cue is found: on every text of up to three pieces that a pattern matches, the
    cue is found; words that merely hold a cue word ("contacting", "shopping", "decide") are no cue."""
    pieces = [
        *_SECRET_PIECES, "sign in", "signin", "one-time", "cvv", "CVC2", "安全码", "authenticator", "confirmation",
        "no.", "contacting", "shopping", "decide",
    ]  # fmt: skip
    cues = [
        (sensitive._CODE_CUE, [sensitive._CODE_AFTER, sensitive._CODE_BEFORE]),
        (sensitive._CVV_CUE, [sensitive._CVV]),
        (sensitive._PASSWORD_CUE, [sensitive._PASSWORD]),
    ]
    texts = texts_of(pieces)
    matched = [
        (cue, text) for cue, patterns in cues for text in texts if any(pattern.search(text) for pattern in patterns)
    ]
    assert len(matched) > 1000
    assert [text for cue, text in matched if not cue.found(text, text.lower())] == []
    clean = "Thank you for contacting us about shopping; we decide within a day. tzq0mjhnmotpk7boo"
    assert not any(cue.found(clean, clean.lower()) for cue, _ in cues)


@given(st.text(alphabet="0123456789１ -+a", max_size=40))
@settings(max_examples=3000, deadline=None, derandomize=True)
def test_digit_runs_start_at_their_first_digit(text: str) -> None:
    """The card pattern checks "not after a digit or +" after its first digit: the same runs as checking it before."""
    before = re.compile(r"(?<![\d+])(?=\d(?:[ -]?\d){12})\d+(?:[ -]\d+)*(?!\d)")
    assert [m.span() for m in sensitive._DIGIT_RUN.finditer(text)] == [m.span() for m in before.finditer(text)]
