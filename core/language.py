"""Which of our two reply languages a message is in.

Only Chinese and English replies exist, so the question is narrow: does the text carry a meaningful share of Han
characters? A general language detector (lingua, langdetect) would be slower and no more right for this question,
and misfires on the short, mixed texts customers send ("my 充值 failed").
"""

from __future__ import annotations

import re

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_KANA = re.compile(r"[\u3040-\u30ff]")


def detect_language(text: str, default: str = "en") -> str:
    """`zh` when Han characters make up at least a fifth of the words (a Han character counts as a word).

    Japanese shares the Han characters; kana gives it away, and an English reply serves a Japanese customer better
    than a Chinese one.
    """
    if _KANA.search(text):
        return "en"
    han = len(_HAN.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    if han == 0 and latin == 0:
        return default
    return "zh" if han * 5 >= han + latin else "en"
