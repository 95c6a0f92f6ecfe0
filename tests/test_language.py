from __future__ import annotations

import pytest

from core.language import detect_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的充值没到账", "zh"),
        ("我的帳戶被鎖了", "zh"),
        ("My top-up failed", "en"),
        ("my 充值 failed again today, please check", "zh"),
        ("Hello, my order 12345 is missing and I need help with the refund please", "en"),
        ("チャージできません", "ja"),
        ("충전이 안 돼요", "ko"),
        ("12345", "en"),
        ("", "en"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("tag", "default", "expected"),
    [("zh", "en", "zh"), ("zh-TW", "en", "zh"), ("zh_Hans", "en", "zh"), ("en-GB", "zh", "en"), ("ja", "zh", "zh"),
     ("ko", "en", "en"), ("", "fr", "en")],
)  # fmt: skip
def test_reply_language(tag: str, default: str, expected: str) -> None:
    from core.language import reply_language

    assert reply_language(tag, default) == expected
