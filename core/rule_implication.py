"""Does one rule's `when` imply another's? Used to find rules an earlier rule always wins before they can match.

`implies(b, a)` is True only when every message that satisfies `b` surely satisfies `a` (sound, not complete): it
reasons field by field over the common cases and answers False whenever it cannot be sure.

- an "any of" list (channel, recipient, contact_tags, language, category, keywords_any) is implied by a subset of it,
  the same values in any order included; `keywords_any` also by a `keywords_all` sharing one word with it;
- `keywords_all` and `keywords_none` by a superset; `sender` by a subset (an address also by its "@domain");
- `regex`, `sender_regex`, `has_attachment`, `new_conversation`, `business_hours` by the same value;
- nested `all` by implying each child, `any` by implying one child (or every branch of `b`'s own `any` implying it),
  `not X` by a `not Y` where X implies Y (not Y implies not X); a condition is implied by a child of `b`'s `all`
  that implies it.

Values are compared the way the router compares them (recipient, language and sender lower-cased and trimmed, tags
and categories exactly), so equal here means equal there. Keywords are compared case-insensitively only when ASCII
(the router's Unicode folding equates more than this module could prove), and a list holding a keyword without a
letter or digit is left alone: the router drops keywords that normalise to nothing, which changes a list's meaning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.routing_settings import Condition

_ANY_OF = ("channel", "recipient", "contact_tags", "language", "category", "keywords_any")
_SAME = ("regex", "has_attachment", "new_conversation", "business_hours")
_FIELDS = frozenset((*_ANY_OF, *_SAME, "keywords_all", "keywords_none", "sender", "sender_regex"))


def implies(b: Condition, a: Condition) -> bool:
    """True when every message satisfying `b` satisfies `a`; False when that cannot be shown."""
    if b.model_extra or a.model_extra:
        return False  # unknown fields: reported elsewhere, and nothing can be said about them
    if a.signature() == b.signature():
        return True
    for name in _FIELDS:
        if name == "sender_regex" or getattr(a, name) is None:
            continue  # sender_regex is one condition with sender, checked there
        if not _through(b, partial(_field_implied, name=name, a=a)):
            return False
    if a.sender is None and a.sender_regex is not None and not _through(b, lambda c: _sender_implied(c, a)):
        return False
    if a.all_of is not None and not all(implies(b, child) for child in a.all_of):
        return False
    if a.any_of is not None and not _implies_any(b, a.any_of):
        return False
    excluded = a.not_
    return excluded is None or _through(b, lambda c: c.not_ is not None and implies(excluded, c.not_))


def mentions(condition: Condition, field: str) -> bool:
    """Whether `field` is set anywhere in the condition, nested ones included."""
    if getattr(condition, field) is not None:
        return True
    children = [*(condition.all_of or ()), *(condition.any_of or ()), *([condition.not_] if condition.not_ else [])]
    return any(mentions(child, field) for child in children)


def _through(b: Condition, test: Callable[[Condition], bool]) -> bool:
    """`test` holds for b itself, for one child of b's `all`, or for every branch of b's `any`."""
    if test(b):
        return True
    if b.all_of and any(_through(child, test) for child in b.all_of):
        return True
    return bool(b.any_of) and all(_through(branch, test) for branch in b.any_of or ())


def _implies_any(b: Condition, options: list[Condition]) -> bool:
    if any(implies(b, option) for option in options):
        return True
    if b.all_of and any(_implies_any(child, options) for child in b.all_of):
        return True
    return bool(b.any_of) and all(_implies_any(branch, options) for branch in b.any_of or ())


def _field_implied(b: Condition, name: str, a: Condition) -> bool:
    mine, theirs = getattr(b, name), getattr(a, name)
    if name in _SAME:
        return mine is not None and mine == theirs
    if name == "sender":
        return _sender_implied(b, a)
    if name == "keywords_any" and b.keywords_all is not None:
        required, options = _words(b.keywords_all), _words(theirs)
        if required and options and required & options:
            return True  # every word of b present, so the shared one too
    if mine is None:
        return False
    if name.startswith("keywords_"):
        pair = _words(mine), _words(theirs)
        if pair[0] is None or pair[1] is None:
            return False
        return pair[0] >= pair[1] if name in ("keywords_all", "keywords_none") else pair[0] <= pair[1]
    if name == "language":
        allowed = _lowered(theirs)
        return all(v in allowed or v.partition("-")[0] in allowed for v in _lowered(mine))
    if name == "recipient":
        return _lowered(mine) <= _lowered(theirs)
    if name == "channel":
        return {c.value for c in mine} <= {c.value for c in theirs}
    return set(mine) <= set(theirs)  # contact_tags, category: compared exactly by the router


def _sender_implied(b: Condition, a: Condition) -> bool:
    """b's sender condition (addresses, domains, globs OR a regex) admits no address that a's does not."""
    if b.sender is None and b.sender_regex is None:
        return False
    if b.sender_regex is not None and b.sender_regex != a.sender_regex:
        return False
    allowed = _lowered(a.sender or [])
    domains = {p for p in allowed if p.startswith("@")}
    for pattern in _lowered(b.sender or []) - {""}:  # blank patterns match nothing
        if pattern in allowed:
            continue
        is_address = "@" in pattern and not pattern.startswith("@") and not any(ch in pattern for ch in "*?[")
        if not (is_address and "@" + pattern.rpartition("@")[2] in domains):
            return False
    return True


def _lowered(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip().lower() for v in values)


def _words(values: list[str]) -> frozenset[str] | None:
    """The keywords in a form where equal means the router finds the same keyword; None if that cannot be said."""
    words = [w for w in values if w.strip()]  # the router skips blank ones too
    if not all(any(ch.isalnum() for ch in w) for w in words):
        return None
    return frozenset(" ".join(w.lower().split()) if w.isascii() else w.strip() for w in words)
