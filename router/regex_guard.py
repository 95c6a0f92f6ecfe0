"""Required literals of a regular expression: a prefilter, as RE2 and Hyperscan do it.

`required_literals(pattern)` returns a set of strings such that every match of the pattern contains at least one
of them (or None when no such set is found). The router adds them to its keyword automaton, so a regex rule is
evaluated only for messages that contain one of its literals: `(order|订单)\\s*#?\\d{6}` needs "order" or "订单".

Only runs of ASCII letters/digits and CJK ideographs count as literals, lower-cased: those survive the keyword
form of the text unchanged (see router.normalize), so the prefilter can never hide a real match. The parse uses
Python's own regex parser (`re._parser`); anything unexpected means "no prefilter", never a wrong one.
"""

from __future__ import annotations

from typing import Any

try:  # Python 3.11+: the parser behind `re`
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - an interpreter without it simply gets no prefilter
    sre_parse = None

MIN_LENGTH = 2  # a one-character literal filters almost nothing
Literals = frozenset[str] | None


def required_literals(pattern: str) -> Literals:
    if sre_parse is None:
        return None
    try:
        found = _sequence(list(sre_parse.parse(pattern, 0)))
    except Exception:  # an internal API: any surprise means no prefilter
        return None
    return found if found and all(len(x) >= MIN_LENGTH for x in found) else None


def _usable(ch: str) -> bool:
    return (ch.isascii() and ch.isalnum()) or "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _sequence(items: list[tuple[Any, Any]]) -> Literals:
    """The most selective required set among a concatenation's parts (its longest shortest literal)."""
    candidates: list[frozenset[str]] = []
    run: list[str] = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL" and _usable(chr(arg)):
            run.append(chr(arg).lower())
            continue
        if run:
            candidates.append(frozenset({"".join(run)}))
            run = []
        if name == "SUBPATTERN":
            sub = _sequence(list(arg[-1]))
        elif name == "BRANCH":
            sub = _branch(arg[1])
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and arg[0] >= 1:
            sub = _sequence(list(arg[2]))
        elif name == "ATOMIC_GROUP":
            sub = _sequence(list(arg))
        else:  # a class, any-char, optional part, anchor, backreference, lookaround: requires no literal
            sub = None
        if sub:
            candidates.append(sub)
    if run:
        candidates.append(frozenset({"".join(run)}))
    if not candidates:
        return None
    return max(candidates, key=lambda c: (min(len(x) for x in c), -len(c)))


def _branch(alternatives: list[Any]) -> Literals:
    """Every alternative must require something; then one of their literals is required."""
    out: set[str] = set()
    for alternative in alternatives:
        found = _sequence(list(alternative))
        if not found:
            return None
        out |= found
    return frozenset(out)
