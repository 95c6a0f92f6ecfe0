"""Text normal forms for matching: what both the message and every keyword are turned into before comparing.

`fold` (what regular expressions see): NFKC folds width — full-width ＡＢＣ１２３ becomes abc123, the ideographic
space a plain space — and OpenCC `t2s` turns traditional Chinese into simplified, so 帳戶被鎖 and 账户被锁 are the
same text. Punctuation and spacing are kept, so a pattern like `\\d{4}-\\d{4}` still works.

`normalize` (what keywords see) goes further: casefold(), curly apostrophes become ', dashes and underscores become
spaces and whitespace runs one space, so "Don’t", "top-up" and "TOP  UP" match the keywords "don't" and "top up".
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

_converter = opencc.OpenCC("t2s")
# Curly apostrophes become ', dashes and underscores spaces; then every whitespace run becomes one space.
_APOSTROPHES_AND_DASHES = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "-": " ", "_": " "}
    | dict.fromkeys(map(chr, range(0x2010, 0x2016)), " ")
)
_SPACES = re.compile(r"\s+")
# OpenCC writes 帳 as 帐, but mainland Chinese writes money accounts with 账 (账户, 转账, 到账); 帐 alone (帐篷, a tent)
# never comes up in a wallet's support mail, so fold it too, and 轉帳 / 转帐 / 转账 all meet.
_VARIANTS = str.maketrans({"帐": "账"})


def fold(text: str) -> str:
    """Width-folded, simplified-Chinese `text`, case and punctuation kept."""
    folded = unicodedata.normalize("NFKC", text)
    # OpenCC is fast (~2 µs a message), but most English mail does not need it at all.
    return folded if folded.isascii() else _converter.convert(folded).translate(_VARIANTS)


def match_form(folded: str) -> str:
    """The keyword-matching form of text that has been through `fold` already."""
    text = folded.casefold()
    # Mostly ASCII without a backtick, dash or underscore: nothing to translate (three scans in C cost less).
    if not text.isascii() or "`" in text or "-" in text or "_" in text:
        text = text.translate(_APOSTROPHES_AND_DASHES)
    return single_spaced(text)


def single_spaced(text: str) -> str:
    """`text` with every run of whitespace made one space. Most texts have nothing to change, which two scans in C
    tell (every whitespace character but the space is unprintable): the substitution costs more."""
    return text if text.isprintable() and "  " not in text else _SPACES.sub(" ", text)


def normalize(text: str) -> str:
    """The keyword-matching form of any text; idempotent."""
    return match_form(fold(text))


@lru_cache(maxsize=4096)
def normalize_keyword(keyword: str) -> str:
    return normalize(keyword).strip()


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese only (no case or width folding): for regular expressions."""
    return text if text.isascii() else _converter.convert(text).translate(_VARIANTS)


def has_cjk(text: str) -> bool:
    """True when `text` holds a CJK ideograph: such keywords are matched as substrings, not on word boundaries."""
    return any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or ch >= "\U00020000" for ch in text)
