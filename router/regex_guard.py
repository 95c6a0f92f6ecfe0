"""Required literals of a regular expression: a prefilter, as RE2 and Hyperscan do it.

`required_literals(pattern)` returns a set of strings such that every match of the pattern contains at least one
of them (or None when no such set is found). The router adds them to its keyword automaton, so a regex rule is
evaluated only for messages that contain one of its literals: `(order|订单)\\s*#?\\d{6}` needs "order" or "订单".

Only runs of ASCII letters/digits and CJK ideographs count as literals, lower-cased: those survive the keyword
form of the text unchanged (see router.normalize), so the prefilter can never hide a real match. The parse uses
Python's own regex parser (`re._parser`); anything unexpected means "no prefilter", never a wrong one.
"""

from __future__ import annotations

from collections.abc import Callable
from re import _parser as sre_parse  # type: ignore[attr-defined]  # the parser behind `re` (Python 3.11+)
from typing import Any

MIN_LENGTH = 2  # a one-character literal filters almost nothing
Literals = frozenset[str] | None


def required_literals(pattern: str) -> Literals:
    return _required(pattern, _usable, MIN_LENGTH)


def required_characters(pattern: str) -> Literals:
    """Like `required_literals`, but from the pattern's caseless ASCII characters (digits, `@`, `#`, `-`, `.`…),
    one character being enough: every match holds one of them exactly as written, so a search in the same text
    can be skipped when none is `in` it. For regexes with no literal the keyword index could use (`[\\w.]+@\\w+`).
    """
    return _required(pattern, _caseless, 1)


def _required(pattern: str, usable: Callable[[str], bool], min_length: int) -> Literals:
    try:
        found = _sequence(list(sre_parse.parse(pattern, 0)), usable)
    except Exception:  # an internal API: any surprise means no prefilter
        return None
    return found if found and all(len(x) >= min_length for x in found) else None


def _usable(ch: str) -> bool:
    return (ch.isascii() and ch.isalnum()) or "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _caseless(ch: str) -> bool:
    """Matched only by itself even under IGNORECASE: ASCII digits and punctuation (no letters, no whitespace,
    which `\\s`-like folding could make ambiguous)."""
    return ch.isascii() and ch.isprintable() and not ch.isalpha() and not ch.isspace()


def _sequence(items: list[tuple[Any, Any]], usable: Callable[[str], bool]) -> Literals:
    """The most selective required set among a concatenation's parts (its longest shortest literal)."""
    candidates: list[frozenset[str]] = []
    run: list[str] = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL" and usable(chr(arg)):
            run.append(chr(arg).lower())
            continue
        if run:
            candidates.append(frozenset({"".join(run)}))
            run = []
        if name == "SUBPATTERN":
            sub = _sequence(list(arg[-1]), usable)
        elif name == "BRANCH":
            sub = _branch(arg[1], usable)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and arg[0] >= 1:
            sub = _sequence(list(arg[2]), usable)
        elif name == "ATOMIC_GROUP":
            sub = _sequence(list(arg), usable)
        else:  # a class, any-char, optional part, anchor, backreference, lookaround: requires no literal
            sub = None
        if sub:
            candidates.append(sub)
    if run:
        candidates.append(frozenset({"".join(run)}))
    if not candidates:
        return None
    return max(candidates, key=lambda c: (min(len(x) for x in c), -len(c)))


def _branch(alternatives: list[Any], usable: Callable[[str], bool]) -> Literals:
    """Every alternative must require something; then one of their literals is required."""
    out: set[str] = set()
    for alternative in alternatives:
        found = _sequence(list(alternative), usable)
        if not found:
            return None
        out |= found
    return frozenset(out)
