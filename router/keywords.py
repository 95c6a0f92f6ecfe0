"""Every keyword of every category and rule, compiled into ONE Aho-Corasick automaton.

A message is scanned once, whatever the number of rules: the result is the set of keyword ids found in it, and
each keyword condition is then a set operation on that set. Chinese (any keyword with a CJK ideograph) matches as a
substring; other keywords match on word boundaries, where a word character is an ASCII letter or digit (so "top up"
matches in "我的top up失败了" but "pin" does not match in "spinning"). A few English inflections may follow a keyword
without breaking the boundary — s, es, d, ed, ing — so "refund" also finds "refunds" and "refunded".
"""

from __future__ import annotations

from dataclasses import dataclass

import ahocorasick

from router.normalize import has_cjk, normalize_keyword

_SUFFIXES = ("", "s", "es", "d", "ed", "ing")


@dataclass(frozen=True)
class Keyword:
    id: int
    text: str  # normalised
    substring: bool  # True for Chinese: no word-boundary check

    @property
    def weight(self) -> float:
        """How much a match says about a category: a longer phrase says more than a single word.

        English counts words (\"money not received\" = 3); Chinese counts characters, two to a word (充值 = 1,
        充值失败 = 2, 没到账 = 1.5).
        """
        if self.substring:
            return max(1.0, len(self.text.replace(" ", "")) / 2)
        return float(len(self.text.split()))


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class KeywordIndex:
    """Build with `add()` for every keyword, then `freeze()`; `find(normalised_text)` returns the ids present."""

    def __init__(self) -> None:
        self._by_text: dict[tuple[str, bool], Keyword] = {}
        self._automaton = ahocorasick.Automaton()
        self._frozen = False
        self._list: list[Keyword] = []

    def add(self, keyword: str, *, substring: bool | None = None) -> Keyword | None:
        """The keyword's entry (shared by equal keywords), or None for a keyword that is empty once normalised.

        `substring` forces the matching mode; by default Chinese keywords are substrings, others whole words.
        """
        text = normalize_keyword(keyword)
        if not text:
            return None
        mode = has_cjk(text) if substring is None else substring
        known = self._by_text.get((text, mode))
        if known is not None:
            return known
        if self._frozen:
            raise RuntimeError("keyword index is frozen")
        entry = Keyword(len(self._by_text), text, mode)
        self._by_text[(text, mode)] = entry
        # One automaton entry per text: the same text as a word and as a regex literal (a substring) shares it.
        modes = self._automaton.get(text, ())
        self._automaton.add_word(text, (*modes, (entry.id, len(text), mode)))
        return entry

    def freeze(self) -> None:
        self._frozen = True
        self._list = sorted(self._by_text.values(), key=lambda k: k.id)
        if self._by_text:
            self._automaton.make_automaton()

    def __len__(self) -> int:
        return len(self._by_text)

    def keyword(self, keyword_id: int) -> Keyword:
        return self._list[keyword_id]

    def find(self, text: str) -> tuple[set[int], list[tuple[int, int, int]]]:
        """The ids of the keywords present in `text` (already normalised), and every match as (start, end, id)."""
        found: set[int] = set()
        spans: list[tuple[int, int, int]] = []
        if not self._by_text:
            return found, spans
        size = len(text)
        add, append = found.add, spans.append
        for end, entries in self._automaton.iter(text):
            for keyword_id, length, substring in entries:
                start = end - length + 1
                # A boundary matters only where the keyword starts or ends with a word character ("2fa", not "$").
                # (`c.isascii() and c.isalnum()` is _is_word_char, written out: this loop runs for every match.)
                if not substring:
                    if start > 0:
                        first, before = text[start], text[start - 1]
                        if first.isascii() and first.isalnum() and before.isascii() and before.isalnum():
                            continue
                    last = text[end]
                    if last.isascii() and last.isalnum() and not _boundary_after(text, end + 1, size):
                        continue
                add(keyword_id)
                append((start, end, keyword_id))
        return found, spans


def outermost(spans: list[tuple[int, int, int]]) -> set[int]:
    """The ids of matches not nested inside a longer match: in "apple pay", `pay` does not count beside `apple pay`.

    Classification scores only these, so a phrase is not counted twice (once whole, once for a word inside it) and a
    generic word inside another category's phrase ("transfer" inside "transfer fee") does not pull the other way.
    """
    if len(spans) < 2:
        return {keyword_id for _, _, keyword_id in spans}
    kept: set[int] = set()
    widest_start, widest_end = -1, -1  # the match reaching furthest right among those started so far
    for start, end, keyword_id in sorted(spans, key=_by_start_then_longest):
        if end < widest_end or (end == widest_end and start > widest_start):
            continue  # inside an earlier, longer match
        kept.add(keyword_id)
        if end > widest_end:
            widest_start, widest_end = start, end
    return kept


def _by_start_then_longest(span: tuple[int, int, int]) -> tuple[int, int]:
    return span[0], -span[1]


def _boundary_after(text: str, at: int, size: int) -> bool:
    for suffix in _SUFFIXES:
        stop = at + len(suffix)
        if stop > size or (suffix and text[at:stop] != suffix):
            continue
        if stop == size or not _is_word_char(text[stop]):
            return True
    return False
