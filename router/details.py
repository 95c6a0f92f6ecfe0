"""Find the transaction details an agent needs in a customer's message, and say which are missing.

The four details, in the order the acknowledgement asks for them:
    account           wallet account ID, or the phone number / email address registered with it
    transaction_time  a date or time ("2026-03-05", "5 March", "yesterday 3pm", "3月5日下午3点", "昨天")
    amount            a number with a currency ("¥500", "500元", "1.5万元", "RMB 200", "S$20", "RM 50", "$12.50")
    reference         a transaction reference or order number ("order no. 12345678", "交易单号：4200…", "TXN20260305A1")

What counts as a message about a transaction (`Details.transactional`): the router put it in a money category (one
marked `transactional = true` in settings.toml: payment, transfer, refund, top_up, fees, cards, security) AND the
text is about one particular transaction, not a how-to question: it names an amount, a reference or a time, or uses
a problem word ("failed", "not received", "charged twice", "没到账", "扣款", "盗刷"…). "How do I top up?" is in
top_up but asks for nothing; "我的充值没到账" is transactional and gets asked for what it lacks. A message in any
other category counts only when it has both a problem word and an amount or reference ("my payment of $50 failed"
routed to general).

Text is NFKC-normalised first, so full-width "１２３" and "￥" read as "123" and "¥". Run this on the masked text
(core/sensitive.py): a card number must not come back as a "reference". Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import phonenumbers

from core.ids import is_our_reference
from core.language import reply_language

ACCOUNT = "account"
TRANSACTION_TIME = "transaction_time"
AMOUNT = "amount"
REFERENCE = "reference"
REQUIRED = (ACCOUNT, TRANSACTION_TIME, AMOUNT, REFERENCE)

LABELS: dict[str, dict[str, str]] = {
    ACCOUNT: {
        "en": "your wallet account ID, or the phone number or email address registered with it",
        "zh": "您的钱包账户 ID，或注册时使用的手机号/邮箱",
    },
    TRANSACTION_TIME: {"en": "the date and time of the transaction", "zh": "交易的日期和时间"},
    AMOUNT: {"en": "the amount and currency", "zh": "交易金额及币种"},
    REFERENCE: {
        "en": "the transaction reference or order number (shown in your transaction history or receipt)",
        "zh": "交易单号或订单号（可在交易记录或收据中找到）",
    },
}


@dataclass(frozen=True)
class Details:
    found: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    transactional: bool = False


def labels(missing: list[str], language: str) -> list[str]:
    """What to ask the customer for, in their reply language (`core.language.reply_language`: English when it is
    neither English nor Chinese)."""
    lang = reply_language(language)
    return [LABELS[key][lang] for key in missing if key in LABELS]


# ---- account ---------------------------------------------------------------------------------------------------

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_ACCOUNT_ID = re.compile(
    r"(?:(?<![A-Za-z])(?:account|acct|wallet|user|customer|member|uid)(?:[ \t]*(?:id|no\.?|number|#))?"
    r"|账号|账户|帐号|帐户|用户\s*ID|用户名|钱包\s*ID|会员号|UID)"
    r"[ \t]*(?:is|:|=|#|是|为)?[ \t]*(?P<v>[A-Za-z0-9][A-Za-z0-9_-]{3,31})(?![A-Za-z0-9])",
    re.I,
)


def _find_account(text: str) -> str | None:
    for m in _ACCOUNT_ID.finditer(text):
        if any(c.isdigit() for c in m["v"]):  # "account is locked" names no account
            return m["v"]
    email = _EMAIL.search(text)
    if email:
        return email.group(0)
    for region in ("CN", "SG"):  # numbers with a country code are found whatever the region
        for match in phonenumbers.PhoneNumberMatcher(text, region):
            return str(match.raw_string)
    return None


# ---- amount ----------------------------------------------------------------------------------------------------

_NUMBER_AFTER_ITS_FIRST_DIGIT = r"(?:\d{0,2}(?:,\d{3})+(?:\.\d{1,2})?|\d*(?:\.\d{1,2})?)"
_NUMBER = rf"(?P<num>\d{_NUMBER_AFTER_ITS_FIRST_DIGIT})"  # "1,500.50", "500", "12.5"
_PREFIX_CURRENCY = {
    "S$": "SGD", "SG$": "SGD", "HK$": "HKD", "US$": "USD", "A$": "AUD", "NT$": "TWD", "RM": "MYR", "¥": "CNY",
    "$": "USD", "€": "EUR", "£": "GBP",
}  # fmt: skip
_CODES = ("CNY", "RMB", "USD", "SGD", "HKD", "MYR", "EUR", "GBP", "JPY", "AUD", "TWD", "THB", "IDR", "PHP")
_SUFFIX_CURRENCY = {
    "人民币": "CNY", "元人民币": "CNY", "块钱": "CNY", "块": "CNY", "元": "CNY", "美元": "USD", "美金": "USD",
    "新币": "SGD", "新加坡元": "SGD", "新元": "SGD", "港币": "HKD", "港元": "HKD", "马币": "MYR", "令吉": "MYR",
    "欧元": "EUR", "英镑": "GBP", "日元": "JPY", "dollars": "USD", "dollar": "USD", "bucks": "USD", "yuan": "CNY",
    "ringgit": "MYR",
}  # fmt: skip


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))  # longest first: 日元 before 元


# Each amount pattern is said so that the engine can skip in C to where one can start: the first characters of the
# currency symbols and codes (a look-ahead made from them), and a number's first digit ("not after a digit" is
# checked after it). 2x faster on bench mail, the same matches (tests/test_details.py).
_AMOUNT_STARTS = "(?=[" + re.escape("".join(sorted({word[0] for word in [*_PREFIX_CURRENCY, *_CODES]}))) + "])"
_AMOUNT_BEFORE = re.compile(
    _AMOUNT_STARTS
    + rf"(?:(?<![A-Za-z])(?P<sym>{_alternation(_PREFIX_CURRENCY)})|(?P<code>{'|'.join(_CODES)})(?![A-Za-z]))"
    rf"[ \t]?{_NUMBER}(?P<wan>[ \t]?万)?",
    re.I,
)
_AMOUNT_AFTER = re.compile(
    rf"(?P<num>\d(?<![\d.,]\d){_NUMBER_AFTER_ITS_FIRST_DIGIT})(?P<wan>[ \t]?万)?[ \t]?"
    rf"(?:(?P<code>{'|'.join(_CODES)})(?![A-Za-z])|(?P<word>{_alternation(_SUFFIX_CURRENCY)}))",
    re.I,
)


def _currency(m: re.Match[str]) -> str:
    if m["code"]:
        code = m["code"].upper()
        return "CNY" if code == "RMB" else code
    if m.groupdict().get("sym"):
        return _PREFIX_CURRENCY[next(k for k in _PREFIX_CURRENCY if k.lower() == m["sym"].lower())]
    word = m["word"].lower()
    return next(v for k, v in _SUFFIX_CURRENCY.items() if k.lower() == word)


def _amounts(text: str) -> list[re.Match[str]]:
    return sorted((m for p in (_AMOUNT_BEFORE, _AMOUNT_AFTER) for m in p.finditer(text)), key=lambda m: m.start())


def _format_amount(m: re.Match[str]) -> str:
    number = m["num"].replace(",", "")
    if m["wan"]:  # 万 = ten thousand: "1.5万元" is 15000 CNY
        number = f"{float(number) * 10000:.2f}".rstrip("0").rstrip(".")
    return f"{number} {_currency(m)}"


# ---- time ------------------------------------------------------------------------------------------------------

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_WEEKDAY = r"(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)day"
_TIME_PATTERNS = [
    r"\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}[日号]?",
    r"(?<![\d.,])\d{1,2}/\d{1,2}(?:/\d{2,4})?(?![\d/])",
    r"\d{1,2}月\d{1,2}[日号]",
    rf"(?<![A-Za-z]){_MONTH}[ \t]+\d{{1,2}}(?:st|nd|rd|th)?(?:,?[ \t]+\d{{4}})?(?!\d)",
    rf"(?<!\d)\d{{1,2}}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?{_MONTH}(?![a-z])",
    r"(?<![A-Za-z])(?:today|yesterday|this (?:morning|afternoon|evening)|last night|tonight)(?![A-Za-z])",
    rf"(?<![A-Za-z])(?:last |on |this )?{_WEEKDAY}(?![A-Za-z])",
    r"今天|今日|昨天|昨日|前天|昨晚|今早|今晚|上周[一二三四五六日天]?|(?:周|星期|礼拜)[一二三四五六日天]",
    r"(?<![\d:])\d{1,2}:\d{2}(?::\d{2})?(?:[ \t]?(?:am|pm))?(?![\d:])",
    r"(?<![\d.])\d{1,2}[ \t]?(?:am|pm|a\.m\.|p\.m\.)",
    r"(?:上午|下午|晚上|凌晨|中午|早上)?\d{1,2}[点點时](?:\d{1,2}分?|半)?",
]
# Every pattern starts with a digit, a letter beginning a word, or one of these Chinese characters; the lookahead
# says so once, so the engine tries the eleven alternatives only where one can start: 2.4x faster on real mail, the
# same matches (a new pattern must start with one of these too, or widen the lookahead).
_TIME_STARTS = r"(?=\d|(?<![A-Za-z])[A-Za-z]|[今昨前上下周星礼晚凌中早])"
_TIME = re.compile(_TIME_STARTS + "(?:" + "|".join(f"(?:{p})" for p in _TIME_PATTERNS) + ")", re.I)


def _find_time(text: str) -> str | None:
    parts = list(dict.fromkeys(m.group(0).strip() for m in _TIME.finditer(text)))
    return " ".join(parts[:2]) if parts else None  # a date and a time, usually


# ---- reference -------------------------------------------------------------------------------------------------

_REFERENCE = re.compile(
    r"(?:(?<![A-Za-z])(?:order|transaction|txn|trx|reference|ref|receipt|invoice|payment|transfer|tracking|trade)"
    r"(?:[ \t]*(?:id|no\.?|number|num|#|code))?"
    r"|订单号|订单编号|交易单号|交易号|交易编号|交易流水号|流水号|参考号|凭证号|商户单号|转账单号|单号|订单|交易ID)"
    r"[ \t]*(?:is|:|=|#|是|为)?[ \t]*(?P<v>[A-Za-z0-9][A-Za-z0-9-]{5,39})(?![A-Za-z0-9])",
    re.I,
)
# Bare: a long number (WeChat Pay / Alipay trade numbers are 28-32 digits) or an upper-case code with digits.
_BARE_REFERENCE = re.compile(
    r"(?<![A-Za-z0-9*+-])(?:\d{16,40}|(?=[A-Z0-9-]*[A-Z])(?=(?:[A-Z-]*\d){6})[A-Z0-9-]{10,40})(?![A-Za-z0-9*])"
)


def _find_reference(text: str, not_these: set[str], amounts: list[re.Match[str]]) -> str | None:
    def usable(m: re.Match[str], group: str | int) -> bool:
        value, (lo, hi) = m[group], m.span(group)
        return not (
            value in not_these
            or is_our_reference(value)  # what our acknowledgement gave them
            or any(a.start() < hi and lo < a.end() for a in amounts)  # "transfer 123456 yuan" is an amount
        )

    for m in _REFERENCE.finditer(text):
        if sum(c.isdigit() for c in m["v"]) >= 4 and usable(m, "v"):
            return m["v"]
    for m in _BARE_REFERENCE.finditer(text):
        if usable(m, 0):
            return m.group(0)
    return None


# ---- transactional? --------------------------------------------------------------------------------------------

_PROBLEM = re.compile(
    r"(?<![A-Za-z])(?:fail(?:ed|s|ure)?|declined|reversed|pending|stuck|missing|disappeared|charged|deducted|debited|"
    r"double|twice|wrong|unauthori[sz]ed|(?:don'?t|do not) recogni[sz]e|(?:not|never|hasn'?t|haven'?t|didn'?t|"
    r"did not|has not|have not)[ \t]+(?:been[ \t]+)?(?:arrived?|received?|credited|reflected|showing|shown|got|"
    r"gone through|go through|come through|refunded|processed)|where is my|still waiting)(?![A-Za-z])"
    r"|没到账|未到账|没有到账|不到账|失败|扣款|扣了|被扣|扣费|多扣|重复扣|盗刷|被盗|没收到|未收到|没有收到|转错|"
    r"退款|一直显示|处理中|异常|冻结|不是我本人|莫名|少了|不见了|还没|卡住|被骗",
    re.I,
)


def find_details(
    text: str,
    category: str,
    *,
    transactional_categories: Collection[str],
    sender: str | None = None,
) -> Details:
    """What details the text gives, which of the required ones it lacks, and whether it is about a transaction.

    `transactional_categories` are the money categories (`RouterSettings.transactional_categories()`).

    `sender` (the address or number the message came from) satisfies `account` without being reported as found:
    the agent can look the customer up by it, so the acknowledgement need not ask.
    """
    text = unicodedata.normalize("NFKC", text)
    found: dict[str, str] = {}
    account = _find_account(text)
    if account:
        found[ACCOUNT] = account
    when = _find_time(text)
    if when:
        found[TRANSACTION_TIME] = when
    amounts = _amounts(text)
    if amounts:
        found[AMOUNT] = _format_amount(amounts[0])
    reference = _find_reference(text, {account} if account else set(), amounts)
    if reference:
        found[REFERENCE] = reference
    problem = bool(_PROBLEM.search(text))
    if category in transactional_categories:
        transactional = problem or any(k in found for k in (TRANSACTION_TIME, AMOUNT, REFERENCE))
    else:
        transactional = problem and (AMOUNT in found or REFERENCE in found)
    missing = [key for key in REQUIRED if key not in found and not (key == ACCOUNT and sender)]
    return Details(found, missing if transactional else [], transactional)
