"""Measuring text the way providers count it: Telegram's 4,096 and an SMS segment's 70 are UTF-16 code units, so a
character outside the Basic Multilingual Plane (most emoji) counts twice."""

from __future__ import annotations

from collections.abc import Callable


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def prefix_within(text: str, limit: int, measure: Callable[[str], int] = utf16_units) -> str:
    """The longest prefix of `text` whose characters, each measured by `measure`, add up to at most `limit`."""
    used = 0
    for i, char in enumerate(text):
        used += measure(char)
        if used > limit:
            return text[:i]
    return text
