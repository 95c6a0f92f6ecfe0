"""The subject of a reply: one `Re:` (or `回复：` on a Chinese thread) and one reference tag, whatever the customer's
client did (`Re: RE: 回复: Re[2]: …`, a tag quoted twice, a tag in the middle)."""

from __future__ import annotations

import re

# Reply and forward prefixes of the clients customers use: English, German (AW), Nordic (SV), Chinese (回复, 答复,
# 转发), with or without a count (Re[2]:, Re(2):), with an ASCII or a full-width colon.
_PREFIX = re.compile(r"^\s*(?:re|aw|sv|fw|fwd|回复|答复|回覆|转发)\s*(?:[\[(]\d+[\])])?\s*[:：]\s*", re.IGNORECASE)
_TAG = re.compile(r"\s*\[\s*HL-[0-9A-F]{8,12}\s*\]\s*", re.IGNORECASE)


def bare_subject(subject: str) -> str:
    """The subject without reply prefixes or reference tags."""
    text = _TAG.sub(" ", subject).strip()
    while (match := _PREFIX.match(text)) is not None:
        text = text[match.end() :]
    return " ".join(text.split())


def reply_subject(subject: str, reference: str, language: str) -> str:
    """`Re: <subject> [HL-…]`, or `回复：<subject> [HL-…]` when the thread is in Chinese (no tag without a
    reference)."""
    prefix = "回复：" if language.lower().startswith("zh") else "Re: "
    tag = f" [{reference}]" if reference else ""
    return f"{prefix}{bare_subject(subject)}{tag}"
