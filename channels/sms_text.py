"""Fitting text into SMS segments.

An SMS segment holds 160 GSM-7 characters, or 70 UCS-2 code units as soon as one character is outside GSM-7 (any
Chinese text, an emoji, a curly quote). Long messages are concatenated from segments of 153 / 67 and every segment is
billed, so a reply is shortened at a sentence or word boundary to at most `max_segments` rather than cut mid-word by
the carrier. https://www.twilio.com/docs/glossary/what-sms-character-limit
"""

from __future__ import annotations

import math
import re

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")  # two septets each (escape + char)
TWILIO_MAX_BODY = 1600  # characters Twilio accepts in one Messages API Body
_SENTENCE_END = re.compile(r"[.!?。！？；;\n]\s*")
_SPACE = re.compile(r"\s+")


def is_gsm7(text: str) -> bool:
    return all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text)


def units(text: str) -> int:
    """Septets for GSM-7 text, UTF-16 code units otherwise."""
    if is_gsm7(text):
        return sum(2 if c in _GSM_EXTENDED else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    single, multi = (160, 153) if is_gsm7(text) else (70, 67)
    n = units(text)
    return 1 if n <= single else math.ceil(n / multi)


def fit(text: str, max_segments: int) -> str:
    """`text`, or its longest prefix ending at a sentence or word boundary, plus an ellipsis, in `max_segments`."""
    text = text.strip()
    if segments(text) <= max_segments and len(text) <= TWILIO_MAX_BODY:
        return text
    gsm = is_gsm7(text)
    ellipsis = "..." if gsm else "…"  # "…" is not GSM-7: it would switch a GSM text to UCS-2 and halve its room
    budget = (153 if gsm else 67) * max_segments - units(ellipsis)
    prefix = _prefix_within(text, budget)
    cut = _last_boundary(prefix)
    return prefix[:cut].rstrip().rstrip(".") + ellipsis


def truncate(text: str, limit: int = TWILIO_MAX_BODY) -> str:
    """For WhatsApp (no segments, Twilio's 1,600-character body limit)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    prefix = text[: limit - 1]
    return prefix[: _last_boundary(prefix)].rstrip() + "…"


def _prefix_within(text: str, budget: int) -> str:
    used = 0
    for i, c in enumerate(text):
        used += units(c)
        if used > budget or i >= TWILIO_MAX_BODY - 3:
            return text[:i]
    return text


def _last_boundary(prefix: str) -> int:
    """Cut after the last sentence end in the last third, else the last space there, else mid-text (Chinese)."""
    floor = len(prefix) * 2 // 3
    for pattern in (_SENTENCE_END, _SPACE):
        ends = [m.end() for m in pattern.finditer(prefix) if m.end() >= floor]
        if ends:
            return ends[-1]
    return len(prefix)
