"""Matching a sender address or number: exact, by domain, by glob, or by regular expression.

`"alice@example.com"` is exact, `"@corp.example"` is every address at that domain, `"*@*.corp.example"` a glob
(fnmatch, `*` and `?`), and a separate `sender_regex` is searched in the address. All case-insensitive.
"""

from __future__ import annotations

import fnmatch
import re


class SenderMatcher:
    __slots__ = ("_domains", "_exact", "_pattern", "description")

    def __init__(self, patterns: list[str], regex: str | None = None) -> None:
        self._exact = frozenset(p.strip().lower() for p in patterns if p.strip() and not _special(p))
        self._domains = frozenset(p.strip().lower()[1:] for p in patterns if p.strip().startswith("@"))
        globs = [fnmatch.translate(p.strip().lower()) for p in patterns if _is_glob(p)]
        alternatives = [rf"\A(?:{g})" for g in globs]  # fnmatch anchors only the end
        if regex:
            alternatives.append(f"(?:{regex})")
        # Globs and the regex compile into one alternation, searched once per message.
        self._pattern = re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None
        shown = [p for p in patterns if p.strip()] + ([f"/{regex}/"] if regex else [])
        self.description = ", ".join(shown)

    def index_keys(self) -> frozenset[int | str] | None:
        """Keys for the router's rule index (see router.index_keys.message_keys); None when a pattern is involved."""
        if self._pattern is not None:
            return None
        return frozenset([*(f"from:{a}" for a in self._exact), *(f"fromdomain:{d}" for d in self._domains)])

    def __call__(self, address: str) -> bool:
        """`address` must already be lower-cased."""
        if address in self._exact:
            return True
        if self._domains and address.rpartition("@")[2] in self._domains:
            return True
        return self._pattern is not None and self._pattern.search(address) is not None


def _is_glob(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern or "[" in pattern


def _special(pattern: str) -> bool:
    return pattern.strip().startswith("@") or _is_glob(pattern)
