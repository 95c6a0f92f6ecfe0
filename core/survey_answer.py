"""Does a customer's message read as an answer to the satisfaction survey? Pure: text in, `Rating` or None out.

The survey asks for 1 (not at all) to 5 (very satisfied). A rating is what the message *starts* with, in one of:
- a digit 1–5, full-width too (`５`), alone or as `5/5`, `5 out of 5`, `5 stars`, `5分`, `5星`, `五星`;
- a word or phrase: `非常满意` / `满意` / `一般` / `不满意`, `excellent` / `good` / `bad` / `terrible`… (not `ok`,
  `fine` or `好的`: they acknowledge more often than they rate);
- an emoji: 👍 👎 😀 🙂 😐 🙁 😡…, or stars (`⭐⭐⭐⭐`, `★★★☆☆`: the filled ones count),
optionally after `rating:` / `评分：`. Whatever follows the rating is the customer's comment.

A message that is not a rating goes to agents as usual, so a wrong "yes" (a new problem swallowed as a score) costs
far more than a wrong "no" (a rating filed as a ticket, as before). So a digit or a word counts only when what comes
right after it cannot start something else: the end, punctuation (`5, slow but fine`), a line break, or, after a
space, a word of thanks or about the service (`5 thanks`, `good job`). `5000 yuan missing`, `5 dollars`,
`5 days and no refund`, `4.5`, `5%`, `good morning`, `一般来说…` and `I paid 5 dollars` are not ratings; nor is a
numbered list (`1. …` followed by a line `2. …`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Rating:
    score: int  # 1..5
    comment: str | None  # what followed the rating, trimmed; None when nothing did


# Longest first within a language, so "very good" is not read as "very" + "good", nor 不满意 as 满意.
_EN_WORDS: dict[str, int] = {
    "very satisfied": 5, "very dissatisfied": 1, "very unsatisfied": 1, "very good": 5, "very bad": 1,
    "very poor": 1, "not satisfied": 2, "not good": 2, "not bad": 4, "so so": 3, "so-so": 3,
    "excellent": 5, "great": 5, "amazing": 5, "awesome": 5, "perfect": 5, "fantastic": 5, "outstanding": 5,
    "satisfied": 4, "good": 4, "average": 3, "meh": 3, "mediocre": 3,
    "unsatisfied": 2, "dissatisfied": 2, "bad": 2, "poor": 2, "terrible": 1, "awful": 1, "horrible": 1,
    "useless": 1, "worst": 1,
}  # fmt: skip
_ZH_WORDS: dict[str, int] = {
    "非常不满意": 1, "很不满意": 1, "特别不满意": 1, "不太满意": 2, "不满意": 2, "非常满意": 5, "很满意": 5,
    "特别满意": 5, "比较满意": 4, "满意": 4, "一般般": 3, "一般": 3, "还可以": 3, "还行": 3, "非常好": 5,
    "很好": 5, "不错": 4, "不好": 2, "很差": 1, "太差": 1, "非常差": 1, "差评": 1, "好评": 5,
}  # fmt: skip
_ZH_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_EMOJI: dict[str, int] = {
    "👍": 5, "👌": 5, "😀": 5, "😃": 5, "😄": 5, "😁": 5, "😊": 5, "😍": 5, "🥰": 5, "🤩": 5, "❤": 5, "💯": 5,
    "🙂": 4, "😐": 3, "😑": 3, "😶": 3, "🤔": 3, "😕": 2, "🙁": 2, "☹": 2, "😞": 2, "😒": 2, "😢": 2,
    "👎": 1, "😡": 1, "😠": 1, "🤬": 1, "😤": 1, "💩": 1,
}  # fmt: skip
_FILLED_STARS = "⭐★🌟"
_EMPTY_STARS = "☆"
# Emoji modifiers that do not change the meaning: variation selectors, skin tones, zero-width joiner.
_MODIFIERS = re.compile("[\ufe0e\ufe0f\u200d\U0001f3fb-\U0001f3ff]")
_PREFIX = re.compile(r"^(?:rating|score|my rating|评分|打分|评价)\s*(?:[:=：]|is\b)?\s*", re.IGNORECASE)
_SEPARATORS = ",.!;:-–—~)]}>，。！；：、…?？\n"
# After a space, a digit or word rating may be followed by these (a comment), and by nothing else.
_EN_FOLLOWERS = re.compile(
    r"^(?:thanks?|thank you|thx|ty|cheers|service|support|help|experience|job|work|answer|response|agent|"
    r"overall|but|because|stars?|points?)\b",
    re.IGNORECASE,
)
_ZH_FOLLOWERS = ("谢谢", "感谢", "多谢", "谢啦", "服务", "但是", "不过", "因为", "的服务", "吧", "啦", "了", "呢")
_SCALE = re.compile(r"^\s*(?:/\s*5|out of 5|of 5)\b", re.IGNORECASE)
_UNIT = re.compile(r"^\s*(?:颗星|分|星|stars?\b|points?\b|pts\b)", re.IGNORECASE)
_NEXT_ITEM = re.compile(r"^\s*2\s*[.)、]", re.MULTILINE)
# What a rating can start with: a message starting with anything else is decided without reading further.
_FIRST = frozenset("12345" + "".join(_ZH_NUMERALS) + _FILLED_STARS + "".join(_EMOJI))
_FIRST |= {word[0] for word in (*_EN_WORDS, *_ZH_WORDS)}
_HEAD = 256  # enough of a message to tell a rating: a prefix, the rating, a unit and the word after it
# The words by their first character, so a message is compared with a handful of them, not all.
_EN_BY_FIRST: dict[str, list[tuple[str, int]]] = {}
_ZH_BY_FIRST: dict[str, list[tuple[str, int]]] = {}
for _words, _index in ((_EN_WORDS, _EN_BY_FIRST), (_ZH_WORDS, _ZH_BY_FIRST)):
    for _word, _score in _words.items():  # in the tables' order: longest first within a language
        _index.setdefault(_word[0], []).append((_word, _score))


def parse_rating(text: str) -> Rating | None:
    """The rating a message opens with, and the comment after it; None when it does not read as a rating."""
    # Whether it is one shows in its first characters: the whole text is read (for the comment, and for a numbered
    # list further down) only when they say yes, so a long message costs no more than a short one.
    if _read(_clean(text[:_HEAD])) is None:
        return None
    found = _read(_clean(text))
    return Rating(found[0], _comment(found[1])) if found is not None else None


def _read(cleaned: str) -> tuple[int, str] | None:
    if not cleaned or cleaned[0].lower() not in _FIRST:
        return None
    for read in (_stars, _emoji, _digit, _zh_numeral, _zh_word, _en_word):
        found = read(cleaned)
        if found is not None:
            return found
    return None


def _clean(text: str) -> str:
    cleaned = _MODIFIERS.sub("", unicodedata.normalize("NFKC", text)).strip()
    return _PREFIX.sub("", cleaned, count=1) if _PREFIX.match(cleaned) and len(cleaned) > 1 else cleaned


def _comment(rest: str) -> str | None:
    comment = rest.lstrip(_SEPARATORS + " \t").strip()
    return comment or None


def _stars(text: str) -> tuple[int, str] | None:
    filled = len(text) - len(text.lstrip(_FILLED_STARS))
    after = text[filled:]
    empty = len(after) - len(after.lstrip(_EMPTY_STARS))
    if not 1 <= filled <= 5 or filled + empty > 5:
        return None
    return filled, after[empty:]


def _emoji(text: str) -> tuple[int, str] | None:
    score = _EMOJI.get(text[0])
    if score is None:
        return None
    rest = text[1:]
    while rest and rest[0] in _EMOJI:  # 👍👍, or 👍😀: one rating, the first one's
        rest = rest[1:]
    return score, rest


def _digit(text: str) -> tuple[int, str] | None:
    if text[0] not in "12345" or (len(text) > 1 and (text[1].isdigit() or text[1] in "%$¥€£")):
        return None
    if len(text) > 2 and text[1] in ".," and text[2].isdigit():  # 4.5, 5,000
        return None
    if text[0] == "1" and _NEXT_ITEM.search(text):  # "1. my account…\n2. …" is a list, not a rating
        return None
    rest = text[1:]
    scale = _SCALE.match(rest)
    if scale is not None:
        rest = rest[scale.end() :]
    elif rest.lstrip().startswith("/"):  # 5/10, 3/4: some other scale, or a date
        return None
    unit = _UNIT.match(rest)
    if unit is not None:
        rest = rest[unit.end() :]
    return (int(text[0]), rest) if _ends_rating(rest) else None


def _zh_numeral(text: str) -> tuple[int, str] | None:
    score = _ZH_NUMERALS.get(text[0])
    if score is None:
        return None
    unit = _UNIT.match(text[1:])
    if unit is None:  # 五 alone could start anything (五百元…); 五分, 五星 cannot
        return (score, "") if len(text) == 1 else None
    rest = text[1 + unit.end() :]
    return (score, rest) if _ends_rating(rest) else None


def _zh_word(text: str) -> tuple[int, str] | None:
    for word, score in _ZH_BY_FIRST.get(text[0], ()):
        if text.startswith(word):
            rest = text[len(word) :]
            return (score, rest) if _ends_rating(rest) else None
    return None


def _en_word(text: str) -> tuple[int, str] | None:
    lowered = text[:32].lower()  # the longest phrase is shorter
    for word, score in _EN_BY_FIRST.get(lowered[:1], ()):
        if lowered.startswith(word) and not lowered[len(word) : len(word) + 1].isalnum():
            rest = text[len(word) :]
            return (score, rest) if _ends_rating(rest) else None
    return None


def _ends_rating(rest: str) -> bool:
    """Whether what follows a digit or word leaves it a rating (see the module docstring)."""
    if not rest or rest[0] in _SEPARATORS:
        return True
    if rest[0].isspace():
        after = rest.lstrip()
        return (
            not after
            or after[0] in _SEPARATORS
            or after[0] in _EMOJI
            or after[0] in _FILLED_STARS
            or _EN_FOLLOWERS.match(after) is not None
            or after.startswith(_ZH_FOLLOWERS)
            or _en_word(after) is not None
            or _zh_word(after) is not None
        )
    return rest.startswith(_ZH_FOLLOWERS) or rest[0] in _EMOJI
