"""Fitting text into SMS segments.

An SMS segment holds 160 GSM-7 characters, or 70 UCS-2 code units as soon as one character is outside GSM-7 (any
Chinese text, an emoji, a curly quote). Long messages are concatenated from segments of 153 / 67 and every segment is
billed, so a reply is shortened at a sentence or word boundary to at most `max_segments` rather than cut mid-word by
the carrier. A short closing sentence (the opt-out hint "Reply STOP to opt out.", an agent's sign-off) survives the
cut: what goes is the end of the middle, which in an acknowledgement is the list of missing details.
https://www.twilio.com/docs/glossary/what-sms-character-limit
"""

from __future__ import annotations

import math
import re

from channels.text_units import prefix_within, utf16_units

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")  # two septets each (escape + char)
TWILIO_MAX_BODY = 1600  # characters Twilio accepts in one Messages API Body
_SENTENCE_END = re.compile(r"[.!?。！？；;\n]\s*")
_SPACE = re.compile(r"\s+")
# Where a closing sentence starts: after ASCII punctuation and a space ("1.5" is no boundary), or after CJK punctuation.
_CLOSING_START = re.compile(r"(?:[.!?]\s+|[。！？]|\n)")
_TRAILING = ".,;:。，；：、"  # dropped before the ellipsis: "details;..." reads worse than "details..."
MAX_CLOSING_SHARE = 4  # a closing sentence is kept when it takes at most a quarter of the room


def is_gsm7(text: str) -> bool:
    return all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text)


def units(text: str) -> int:
    """Septets for GSM-7 text, UTF-16 code units otherwise."""
    if is_gsm7(text):
        return sum(2 if c in _GSM_EXTENDED else 1 for c in text)
    return utf16_units(text)


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
    room = (153 if gsm else 67) * max_segments if max_segments > 1 else (160 if gsm else 70)
    body, closing = _split_closing(text, room // MAX_CLOSING_SHARE)
    joiner = " " if closing and gsm else ""
    budget = room - units(ellipsis) - units(joiner + closing)
    prefix = prefix_within(body, min(budget, TWILIO_MAX_BODY - len(ellipsis + joiner + closing)), units)
    cut = _last_boundary(prefix)
    return prefix[:cut].rstrip().rstrip(_TRAILING) + ellipsis + joiner + closing


def truncate(text: str, limit: int = TWILIO_MAX_BODY) -> str:
    """For WhatsApp (no segments, Twilio's 1,600-character body limit)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    prefix = text[: limit - 1]
    return prefix[: _last_boundary(prefix)].rstrip() + "…"


def _split_closing(text: str, max_units: int) -> tuple[str, str]:
    """(body, closing sentence) when the text ends in a sentence of at most `max_units`, else (text, "")."""
    starts = [m.end() for m in _CLOSING_START.finditer(text) if m.end() < len(text)]
    if not starts or units(text[starts[-1] :]) > max_units:
        return text, ""
    return text[: starts[-1]].rstrip(), text[starts[-1] :].strip()


def _last_boundary(prefix: str) -> int:
    """Cut after the last sentence end in the last third, else the last space there, else mid-text (Chinese)."""
    floor = len(prefix) * 2 // 3
    for pattern in (_SENTENCE_END, _SPACE):
        ends = [m.end() for m in pattern.finditer(prefix) if m.end() >= floor]
        if ends:
            return ends[-1]
    return len(prefix)
