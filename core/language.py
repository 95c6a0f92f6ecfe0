"""Which language a message is in, as far as support needs to know: `zh`, `en`, or `ja`/`ko` when kana or
Hangul give them away.

Replies exist in Chinese and English, so the main question is narrow: does the text carry a meaningful share of
Han characters? A general language detector (lingua, langdetect) would be slower and no more right for this
question, and misfires on the short, mixed texts customers send ("my 充值 failed"). Japanese and Korean are
recorded as such (rules can route them), and answered in the default reply language.
"""

from __future__ import annotations

import re

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")


def detect_language(text: str, default: str = "en") -> str:
    """`ja` with kana, `ko` with Hangul; else `zh` when Han characters make up at least a fifth of the words (a Han
    character counts as a word); else `en` (or `default` for text with no words at all)."""
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    han = len(_HAN.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    if han == 0 and latin == 0:
        return default
    return "zh" if han * 5 >= han + latin else "en"


REPLY_LANGUAGES = ("en", "zh")


def reply_language(language: str, default: str = "en") -> str:
    """The language to answer in: `zh` for any Chinese tag (`zh`, `zh-TW`, `zh_Hans`), `en` for English, else
    `default` (the desk's `replies.default_language`). The one place this choice is made."""
    tag = language.lower().replace("_", "-")
    if tag == "zh" or tag.startswith("zh-"):
        return "zh"
    if tag == "en" or tag.startswith("en-"):
        return "en"
    return default if default in REPLY_LANGUAGES else "en"
