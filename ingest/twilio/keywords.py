"""SMS opt-out, opt-in and help keywords.

Twilio's Advanced Opt-Out matches a message that is exactly one keyword (case-insensitive, surrounding whitespace and
punctuation ignored): https://help.twilio.com/articles/223134027. We recognise the same words plus the ones Chinese
carriers use (`退订`, `TD`). `YES` is left out on purpose: customers answer "yes" to our questions.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum


class KeywordAction(StrEnum):
    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"
    HELP = "help"


KEYWORDS: dict[str, KeywordAction] = {
    **dict.fromkeys(
        ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE", "退订", "TD", "取消订阅"],
        KeywordAction.OPT_OUT,
    ),
    **dict.fromkeys(["START", "UNSTOP", "订阅"], KeywordAction.OPT_IN),
    **dict.fromkeys(["HELP", "INFO", "帮助"], KeywordAction.HELP),
}


def keyword_in(text: str) -> tuple[KeywordAction, str] | None:
    """The action and keyword when the whole message is one keyword, else None."""
    word = unicodedata.normalize("NFKC", text).strip().strip(_PUNCTUATION).strip().upper()
    action = KEYWORDS.get(word)
    return (action, word) if action else None


_PUNCTUATION = ".!?,;:。！？，；：'\"“”‘’"
