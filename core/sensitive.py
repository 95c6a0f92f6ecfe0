"""Mask what a customer must never send us: one-time codes, passwords, full card numbers, card security codes.

`mask_sensitive(text)` returns the text with those parts replaced by `*` and the kinds it masked. The store applies
it to every copy of customer content it writes (core/content_gate.py: messages, raw payloads, dead letters), so the
stored message, and everything derived from it (logs, routing traces, agents' views), only ever holds the masked
text. The acknowledgement warns the customer.

What counts:
- one-time codes: 4-8 digits next to a code word, either order — "验证码 123456", "您的验证码为123456",
  "OTP is 482913", "code: 1234", "123456 is my verification code". Codes named by a harmless word ("error code
  1234", "zip code", "promo code") are left alone.
- passwords: the word and a separator, then the secret — "password: hunter2", "my pwd is x", "密码是abc123",
  "支付密码：123456". "password is wrong" and "密码错误" are not secrets.
- card numbers: 13-19 digits (spaces or hyphens between groups allowed) that pass the Luhn check and start like a
  card scheme (Visa, Mastercard, UnionPay, Amex, JCB, Discover, Diners); all digits but the last 4 are masked.
  Numbers after a `+` are phone numbers; order numbers rarely pass both checks.
- card security codes: 3-4 digits after CVV/CVC/CSC/安全码.

Digits are matched with `\\d`, which also matches full-width ０-９, so "验证码：１２３４５６" is caught without
normalising (and shifting the offsets of) the text. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

ONE_TIME_CODE = "one_time_code"
PASSWORD = "password"
CARD_NUMBER = "card_number"
CARD_SECURITY_CODE = "card_security_code"

# ASCII-letter edges instead of \b: CJK characters are word characters, so "我的OTP是…" has no \b before OTP.
_A, _Z = r"(?<![A-Za-z])", r"(?![A-Za-z])"
_SEP = r"[ \t]*(?:is|was|are|=|:|：|-|#|是|为|為)?[ \t]*"
# "Not after a digit" is checked after the first digit, not before it: a pattern that starts with a digit lets the
# regex engine skip to the next digit in C; one that starts with a look-behind is tried at every character.
_CODE_VALUE = r"(?P<v>\d(?<!\d\d)\d{3,7})(?![\d.,]\d)(?!\d)"

_EN_CODE = (
    r"(?:otp|one[\s-]?time[\s-]?(?:pass(?:word|code)?|code|pin)|(?:verification|verify|security|confirmation|"
    r"authenticat(?:ion|or)|authori[sz]ation|auth|login|sign[\s-]?in|sms|2fa|mfa|tac|access)[\s-]?(?:code|pin)|"
    r"tac|pin(?:[\s-]?code)?|code)"
)
_ZH_CODE = (
    r"(?:短信验证码|验证码|驗證碼|校验码|校驗碼|动态码|動態碼|动态密码|動態密碼|"
    r"一次性密码|短信码|确认码|授权码|OTP码|otp码)"
)
# Words that make a "code" harmless; checked on the word just before the code word.
_BARE_CODE_WORDS = {"code", "pin", "pin code", "pincode"}
_HARMLESS_BEFORE = {
    "error", "promo", "promotion", "promotional", "coupon", "voucher", "discount", "referral", "invite", "invitation",
    "reference", "zip", "postal", "post", "area", "country", "swift", "bic", "bank", "branch", "sort", "status",
    "reason", "response", "qr", "bar", "source", "product", "currency", "tracking", "gift", "order", "transaction",
    "txn", "booking", "merchant", "ticket", "case",
}  # fmt: skip

# Where a code word can start: an English one's first letter after a non-letter, a Chinese one's first character (or
# the O of "OTP码"). Said once in front, it spares the engine trying every word at every character: 1.7x faster on
# a raw mail, the same matches (tests/test_sensitive.py). A new code word must start with one of these, or widen it.
_CODE_WORD_STARTS = r"(?=(?<![A-Za-z])[ovsclamtp2]|[短验驗校动動一确授o])"
_CODE_AFTER = re.compile(
    rf"{_CODE_WORD_STARTS}(?P<kw>{_A}{_EN_CODE}{_Z}|{_ZH_CODE})(?:\s*(?:number|no\.?|码))?{_SEP}{_CODE_VALUE}", re.I
)
_CODE_BEFORE = re.compile(
    rf"{_CODE_VALUE}[ \t]*(?:(?:is|was)\s+(?:your|my|the)\s+(?P<kw>{_EN_CODE}){_Z}|"
    rf"(?:是|为|就是)?(?:我的|你们的|您的)?(?P<kw2>{_ZH_CODE}))",
    re.I,
)

# The secret runs to whitespace or CJK text/punctuation; trailing sentence punctuation is not part of it.
# The trailing-punctuation look-ahead is bounded: unbounded, it re-scanned the punctuation after the secret at every
# step of the lazy run, and one mail of 50 KB of dots after "password:" took half a minute.
_SECRET = (
    r"(?P<v>[^\s\u3000-\u303f\u4e00-\u9fff\uff01-\uff0f\uff1a-\uff20]+?)"
    r"(?=[.,;!?)]{0,8}(?:[\s\u3000-\u9fff\uff01-\uff5e]|$))"
)
# "password is hunter2", "password: hunter2", "password is: hunter2"; "密码是abc", "密码：abc", "密码是：abc".
# The password words start with p or l after a non-letter, or with 密: the same kind of look-ahead as the code words'.
_PASSWORD_WORD_STARTS = r"(?=(?<![A-Za-z])[pl]|密)"
_PASSWORD = re.compile(
    _PASSWORD_WORD_STARTS + rf"(?:{_A}(?:password|passwd|pwd|passcode|pass\s+word|login\s+pin){_Z}"
    r"(?:[ \t]+(?:is|was)(?=[ \t:=：])[ \t]*[=:：]?|[ \t]*[=:：])[ \t]*|"
    r"(?<!动态)(?<!動態)(?<!一次性)(?:密码|密碼)[ \t]*(?:是|为|為)?[ \t]*[=:：]?[ \t]*)" + _SECRET,
    re.I,
)
_PASSWORD_WORD = re.compile(r"pass|pwd|login\s+pin|密码|密碼", re.I)  # a superset of what _PASSWORD starts with
_FOUR_DIGITS = re.compile(r"\d{4}")  # codes have 4-8 digits; card numbers at least 13, in groups of 4 or more
_CVV_WORD = re.compile(r"cvv|cvc|csc|cid|安全码|安全碼", re.I)
_NOT_A_SECRET = {
    "not", "wrong", "incorrect", "invalid", "correct", "right", "working", "expired", "locked", "required", "too",
    "the", "a", "an", "my", "being", "changed", "reset", "still", "now", "also", "same", "forgotten", "lost", "weak",
    "and", "or", "but", "for", "to", "of", "in", "on", "with", "please",
}  # fmt: skip

_CVV = re.compile(
    rf"(?:{_A}(?:cvv2?|cvc2?|csc|cid){_Z}|安全码|安全碼)(?:\s*(?:number|no\.?|码))?{_SEP}(?P<v>\d{{3,4}})(?!\d)", re.I
)

# Digit groups separated by at most one space or hyphen; not after `+` (a phone number) or another digit. Only runs
# of 13 digits or more can hold a card: the look-ahead skips the others inside the regex engine, not in Python (a
# mail of prices, dates and order numbers has thousands of short runs). The pattern starts with its first digit, and
# "not after a digit or +" is checked after it, so the engine skips to digits in C (2x faster on a raw mail).
_DIGIT_RUN = re.compile(r"\d(?<![\d+]\d)(?=(?:[ -]?\d){12})\d*(?:[ -]\d+)*(?!\d)")
_ID_TOKEN = re.compile(r"[A-Z]{0,4}[0-9a-f]{24,}|[0-9A-F]{24,}")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|35|30[0-5]|3[689]|6(?:011|5|4[4-9]|2))")


@dataclass(frozen=True)
class Masked:
    text: str
    kinds: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.kinds)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn_ok(digits)


def _stars(text: str) -> str:
    return "*" * len(text)


def _inside_an_id(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is part of a longer ASCII token shaped like a machine id: hex of 24 characters or
    more, after an optional upper-case prefix (a Twilio SID `SM` + 32 hex, a UUID's or a hash's hex). Such ids hold
    13-digit runs that pass Luhn now and then (one Twilio SID in a few hundred); masking them corrupted the id in a
    stored raw payload. A card number a person writes is not glued to hex letters."""
    low, high = start, end
    while low > 0 and text[low - 1].isascii() and text[low - 1].isalnum():
        low -= 1
    while high < len(text) and text[high].isascii() and text[high].isalnum():
        high += 1
    return (low, high) != (start, end) and _ID_TOKEN.fullmatch(text, low, high) is not None


def _mask_cards(text: str, kinds: list[str]) -> str:
    def one_run(m: re.Match[str]) -> str:
        run = m.group(0)
        if _inside_an_id(m.string, m.start(), m.end()):
            return run
        groups = [g.span() for g in re.finditer(r"\d+", run)]
        out = list(run)
        i = 0
        while i < len(groups):
            # Longest window of whole groups starting here that is a card: "card 4111 1111 1111 1111 exp 2027".
            # Windows stop at 19 digits, so a long run of numbers costs linear time, not cubic.
            end, count = i, 0
            while end < len(groups) and count + groups[end][1] - groups[end][0] <= 19:
                count += groups[end][1] - groups[end][0]
                end += 1
            for j in range(end, i, -1):
                lo, hi = groups[i][0], groups[j - 1][1]
                digits = "".join(str(int(c)) for c in run[lo:hi] if c not in " -")  # full-width to ASCII
                if is_card_number(digits):
                    keep = 4
                    for k in range(hi - 1, lo - 1, -1):  # mask right to left, skipping the last four digits
                        if run[k].isdigit():
                            if keep:
                                keep -= 1
                            else:
                                out[k] = "*"
                    kinds.append(CARD_NUMBER)
                    i = j
                    break
            else:
                i += 1
        return "".join(out)

    return _DIGIT_RUN.sub(one_run, text)


def _masking(kind: str, kinds: list[str], accept: Callable[[re.Match[str]], bool]) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        value = m.group("v")
        if not accept(m) or set(value) <= {"*"}:
            return m.group(0)
        kinds.append(kind)
        start, end = m.span("v")
        whole = m.group(0)
        masked = "********" if kind == PASSWORD else _stars(value)  # a password's length is a hint too
        return whole[: start - m.start()] + masked + whole[end - m.start() :]

    return replace


def _code_word_is_harmless(m: re.Match[str]) -> bool:
    """A bare "code" or "pin" after a word that names something else ("error code", "order code", "app shows
    code"); an explicit code word ("verification code", "OTP", "验证码") is never harmless."""
    if re.sub(r"[\s-]+", " ", m.group("kw").lower()) not in _BARE_CODE_WORDS:
        return False
    before = m.string[max(0, m.start() - 40) : m.start()]  # the word just before; never the whole text
    word = re.search(r"([A-Za-z]+)[\s-]*$", before)
    return word is not None and word.group(1).lower() in _HARMLESS_BEFORE


def mask_sensitive(text: str) -> Masked:
    """Mask one-time codes, passwords, card numbers and card security codes; report which kinds were found."""
    kinds: list[str] = []
    # Cheap cues first: this runs on every copy of customer content stored, and most carry none of what the patterns
    # below need (13 digits for a card, 4 digits and a code word for a code, a CVV word, a password word).
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lower to two ("İ"): offsets would shift; use the patterns
        lowered = ""
    text = _CARD_CUE.apply(text, lowered, lambda part: _mask_cards(part, kinds))
    if _FOUR_DIGITS.search(text):
        code_after = _masking(ONE_TIME_CODE, kinds, lambda m: not _code_word_is_harmless(m))
        code_before = _masking(ONE_TIME_CODE, kinds, lambda m: True)
        text = _CODE_CUE.apply(
            text, lowered, lambda part: _CODE_BEFORE.sub(code_before, _CODE_AFTER.sub(code_after, part))
        )
    cvv = _masking(CARD_SECURITY_CODE, kinds, lambda m: True)
    text = _CVV_CUE.apply(text, lowered, lambda part: _CVV.sub(cvv, part))
    password = _masking(PASSWORD, kinds, lambda m: m.group("v").lower() not in _NOT_A_SECRET)
    text = _PASSWORD_CUE.apply(text, lowered, lambda part: _PASSWORD.sub(password, part))
    return Masked(text, list(dict.fromkeys(kinds)))


# A text longer than this (a 5 MB HTML mail, a log file attached) is masked only around its cues, so the cost grows
# with the cues it holds, not with its length; shorter texts (nearly every message) are masked whole.
LARGE_TEXT = 32 * 1024
_REACH = 160  # how far from its cue a secret can sit: every pattern is short (bar long runs of blanks)
_BOUNDARY = re.compile(r"\n|(?<![\d\s])\s(?![\d\s])")  # a line break, or a blank between two non-digits


@dataclass(frozen=True)
class _Cue:
    """What a pattern needs to be worth running: lower-case words (found with `str.find`, far faster than a
    case-insensitive regex over megabytes) or a pattern. Masking is skipped without one, and a large text is
    masked only in the stretches around them."""

    words: tuple[str, ...]
    pattern: re.Pattern[str]  # the same cue as a regex: for texts whose lower case shifts offsets
    # For large texts, a faster pattern if there is one: `\d` is a Unicode lookup per character, [0-9] a bitmap.
    large_pattern: re.Pattern[str] | None = None

    def spans(self, text: str, lowered: str) -> list[tuple[int, int]]:
        if not self.words or not lowered:
            return [m.span() for m in (self.large_pattern or self.pattern).finditer(text)]
        return sorted(self._word_hits(lowered))

    def found(self, text: str, lowered: str) -> bool:
        """A cue in `text`: a cue word where a pattern's word can start (a bare substring sent about half of all
        raw mail through the code patterns: "contacting" holds "tac", a base64 line "otp"), or the cue pattern."""
        if not self.words or not lowered:
            return self.pattern.search(text) is not None
        return next(self._word_hits(lowered), None) is not None

    def _word_hits(self, lowered: str) -> Iterator[tuple[int, int]]:
        for word in self.words:
            at = lowered.find(word)
            while at != -1:
                if word[0] not in _ASCII_LETTERS or _starts_a_word(lowered, at):
                    yield at, at + len(word)
                at = lowered.find(word, at + 1)

    def apply(self, text: str, lowered: str, mask: Callable[[str], str]) -> str:
        """`mask(text)` when the cue occurs in it; for a large text, `mask` of each stretch around a cue, cut where
        no secret can straddle the cut (a line break, a blank that no digit touches)."""
        if len(text) <= LARGE_TEXT:
            return mask(text) if self.found(text, lowered) else text
        out: list[str] = []
        done = 0
        for start, end in self.spans(text, lowered):
            if end <= done:
                continue
            low = max(done, _cut(text, start - _REACH, backwards=True))
            high = max(low, _cut(text, end + _REACH, backwards=False))
            out += [text[done:low], mask(text[low:high])]
            done = high
        out.append(text[done:])
        return "".join(out)


_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
# English code words start after a non-letter ("code", "OTP", "pass"), or are glued to one of these ("passcode",
# "authcode", "smspin", "sign-incode"): "contact", "shipping" and "decide" hold "tac", "pin" and "cid" but are no
# cue. These are the words _EN_CODE lets stand right before a code word.
_GLUED = re.compile(
    r"(?:pass|auth|login|sign[\s-]?in|sms|2fa|mfa|tac|access|time|verification|verify|security|confirmation|"
    r"authentication|authenticator|authorisation|authorization|one)\Z"
)


def _starts_a_word(lowered: str, at: int) -> bool:
    if at == 0 or lowered[at - 1] not in _ASCII_LETTERS:
        return True
    return _GLUED.search(lowered, max(0, at - 16), at) is not None


def _cut(text: str, at: int, *, backwards: bool) -> int:
    """A boundary near `at`: the nearest one before it (or after it) within another reach; `at` itself otherwise."""
    if at <= 0:
        return 0
    if at >= len(text):
        return len(text)
    if backwards:
        found = [m.end() for m in _BOUNDARY.finditer(text, max(0, at - _REACH), at)]
        return found[-1] if found else at
    match = _BOUNDARY.search(text, at, min(len(text), at + _REACH))
    return match.start() if match else at


# 13 digits with blanks or hyphens between (what a card needs); then supersets of the words each pattern starts from.
# Large texts are searched for ASCII and full-width digits only: a card in other digits would go unnoticed there.
_CARD_CUE = _Cue((), re.compile(r"\d[\d -]{12,}"), re.compile(r"[0-9０-９][0-9０-９ -]{12,}"))
_CODE_CUE = _Cue(("otp", "code", "pin", "tac", "pass", "码", "碼"), re.compile(r"otp|code|pin|tac|pass|码|碼", re.I))
_CVV_CUE = _Cue(("cvv", "cvc", "csc", "cid", "安全码", "安全碼"), _CVV_WORD)
_PASSWORD_CUE = _Cue(("pass", "pwd", "pin", "密码", "密碼"), _PASSWORD_WORD)
