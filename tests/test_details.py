from __future__ import annotations

import re

import pytest

import router.details as details_module
from core.sensitive import mask_sensitive
from router.details import ACCOUNT, AMOUNT, REFERENCE, REQUIRED, TRANSACTION_TIME, find_details, labels
from tests.support.pattern_pieces import differing, texts_of

MONEY = frozenset({"top_up", "transfer", "payment", "security", "card"})  # the categories marked `transactional`


def test_chinese_top_up_with_everything() -> None:
    text = "我的账号是 wx88123456，3月5日下午3点充值了500元，交易单号：4200001234202603051234567890，一直没到账。"
    details = find_details(text, "top_up", transactional_categories=MONEY)
    assert details.transactional
    assert details.found == {
        ACCOUNT: "wx88123456",
        TRANSACTION_TIME: "3月5日 下午3点",
        AMOUNT: "500 CNY",
        REFERENCE: "4200001234202603051234567890",
    }
    assert details.missing == []


def test_chinese_top_up_missing_everything_asks_for_all() -> None:
    details = find_details("我的充值没到账", "top_up", transactional_categories=MONEY)
    assert details.transactional
    assert details.found == {}
    assert details.missing == list(REQUIRED)


def test_english_transfer_partial() -> None:
    text = "I sent S$120.50 to my brother yesterday at 3:45 pm but it has not arrived. Order no. TXN20260305A1"
    details = find_details(text, "transfer", transactional_categories=MONEY)
    assert details.found[AMOUNT] == "120.50 SGD"
    assert details.found[TRANSACTION_TIME] == "yesterday 3:45 pm"
    assert details.found[REFERENCE] == "TXN20260305A1"
    assert details.missing == [ACCOUNT]


def test_sender_satisfies_the_account_without_being_reported_as_found() -> None:
    details = find_details(
        "my payment of $50 failed yesterday", "payment", sender="alice@example.com", transactional_categories=MONEY
    )
    assert ACCOUNT not in details.found
    assert details.missing == [REFERENCE]


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("charged ¥88 twice", "88 CNY"),
        ("被扣了￥１２００", "1200 CNY"),
        ("refund of RMB 1,299.00 pending", "1299.00 CNY"),
        ("转账1.5万元失败", "15000 CNY"),
        ("paid HK$300", "300 HKD"),
        ("paid RM 45.90", "45.90 MYR"),
        ("paid 20 USD", "20 USD"),
        ("扣了100块", "100 CNY"),
        ("100日元", "100 JPY"),
        ("30 dollars missing", "30 USD"),
    ],
)
def test_amounts_with_currency(text: str, amount: str) -> None:
    assert find_details(text, "payment", transactional_categories=MONEY).found[AMOUNT] == amount


def test_a_bare_number_is_not_an_amount() -> None:
    assert (
        AMOUNT
        not in find_details("I waited 30 minutes, reference 12345678", "payment", transactional_categories=MONEY).found
    )


@pytest.mark.parametrize(
    ("text", "account"),
    [
        ("my email is bob.lee@example.com", "bob.lee@example.com"),
        ("电话 13812345678", "13812345678"),
        ("call +65 9123 4567", "+65 9123 4567"),
        ("account ID: ACC-778812", "ACC-778812"),
        ("用户ID：88990011", "88990011"),
    ],
)
def test_accounts(text: str, account: str) -> None:
    assert find_details(text, "payment", transactional_categories=MONEY).found[ACCOUNT] == account


def test_account_words_without_an_id_are_not_accounts() -> None:
    assert (
        ACCOUNT
        not in find_details(
            "my account is locked after a failed payment", "payment", transactional_categories=MONEY
        ).found
    )


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("on 2026-03-05 my top up failed", "2026-03-05"),
        ("on 5 March at 14:20 it failed", "5 March 14:20"),
        ("March 5th, 2026 payment failed", "March 5th, 2026"),
        ("2026年3月5日转账失败", "2026年3月5日"),
        ("昨天晚上8点被扣款", "昨天 晚上8点"),
        ("last Monday my transfer failed", "last Monday"),
    ],
)
def test_transaction_times(text: str, when: str) -> None:
    assert find_details(text, "transfer", transactional_categories=MONEY).found[TRANSACTION_TIME] == when


def test_transfer_amount_is_not_taken_for_a_reference() -> None:
    details = find_details("transfer 123456 yuan failed", "transfer", transactional_categories=MONEY)
    assert details.found[AMOUNT] == "123456 CNY"
    assert REFERENCE not in details.found


def test_our_own_reference_is_not_a_transaction_reference() -> None:
    assert (
        REFERENCE
        not in find_details("Re: ref HL-9F3A2C1D my payment failed", "payment", transactional_categories=MONEY).found
    )


def test_how_to_questions_are_not_transactional() -> None:
    for text in ("How do I top up my wallet?", "如何充值？", "What are the fees for transfers abroad?"):
        details = find_details(text, "top_up", transactional_categories=MONEY)
        assert not details.transactional and details.missing == []


def test_a_category_not_marked_transactional_asks_for_nothing_without_an_amount_or_reference() -> None:
    assert find_details("我的充值没到账", "top_up", transactional_categories=MONEY).missing == list(REQUIRED)
    details = find_details("我的充值没到账", "top_up", transactional_categories=frozenset())
    assert not details.transactional and details.missing == []


def test_general_category_counts_only_with_a_problem_and_an_amount() -> None:
    assert find_details("my payment of $50 failed", "general", transactional_categories=MONEY).transactional
    assert not find_details(
        "I love the new app, it failed to impress me", "general", transactional_categories=MONEY
    ).transactional
    assert not find_details("我想了解新功能", "general", transactional_categories=MONEY).transactional


def test_security_incidents_are_transactional() -> None:
    details = find_details("我的卡被盗刷了", "security", transactional_categories=MONEY)
    assert details.transactional and ACCOUNT in details.missing


def test_masked_card_is_not_a_reference() -> None:
    masked = mask_sensitive("card 4111 1111 1111 1111 was charged twice")
    assert REFERENCE not in find_details(masked.text, "card", transactional_categories=MONEY).found


def test_labels_in_both_languages() -> None:
    assert labels([AMOUNT], "zh") == ["交易金额及币种"]
    assert labels([AMOUNT, REFERENCE], "fr")[0] == "the amount and currency"
    assert labels([AMOUNT], "zh-TW") == labels([AMOUNT], "zh_Hans") == ["交易金额及币种"]  # reply_language's rule


# Pieces the time patterns are made of, and of what is near them in a message.
_TIME_PIECES = [
    "0", "3", "12", "2026", "5th", " ", ":", "/", "-", "年", "月", "日", "点", "半", "上午", "下午", "晚上", "凌晨",
    "中午", "早上", "今天", "昨天", "前天", "上周", "星期", "一", "am", "p.m.", "March", "of ", "last ", "Monday",
    "today", "this morning", "x",
]  # fmt: skip


def test_time_lookahead_keeps_every_match() -> None:
    """The lookahead in front of the time patterns only says where one can start: on every text of up to three
    pieces, the same matches as the patterns without it."""
    plain = re.compile("|".join(f"(?:{p})" for p in details_module._TIME_PATTERNS), re.I)
    assert differing([(details_module._TIME, plain)], texts_of(_TIME_PIECES)) == []


_AMOUNT_PIECES = [
    "¥", "$", "S$", "US$", "A$", "RM", "rmb", "CNY", "usd", "€", "500", "1,500", "12.5", "0", ".", ",", " ", "万",
    "元", "美元", "dollars", "yuan", "x", "pa",
]  # fmt: skip


def test_amount_patterns_keep_every_match() -> None:
    """The amount patterns start where an amount can (a currency's first character, a number's first digit): on every
    text of up to three pieces, the same matches as the patterns said the plain way."""
    number_first_digit = rf"(?P<num>\d(?<![\d.,]\d){details_module._NUMBER_AFTER_ITS_FIRST_DIGIT})"
    assert number_first_digit in details_module._AMOUNT_AFTER.pattern
    plain = {
        details_module._AMOUNT_BEFORE: details_module._AMOUNT_BEFORE.pattern.removeprefix(
            details_module._AMOUNT_STARTS
        ),
        details_module._AMOUNT_AFTER: details_module._AMOUNT_AFTER.pattern.replace(
            number_first_digit, r"(?<![\d.,])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)"
        ),
    }
    pairs = [(pattern, re.compile(without, re.I)) for pattern, without in plain.items()]
    assert differing(pairs, texts_of(_AMOUNT_PIECES)) == []
