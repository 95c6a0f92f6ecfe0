"""Checking that a pattern rewritten for speed matches exactly what its plain form does, on every text made of a few
pieces (the words and characters the patterns are made of, and what stands near them)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence


def texts_of(pieces: Sequence[str], most: int = 3) -> list[str]:
    """Every text of one to `most` pieces, in any order, pieces repeated."""
    return ["".join(chosen) for n in range(1, most + 1) for chosen in itertools.product(pieces, repeat=n)]


def matches(pattern: re.Pattern[str], text: str) -> list[tuple[tuple[int, int], dict[str, str | None]]]:
    return [(m.span(), m.groupdict()) for m in pattern.finditer(text)]


def differing(pairs: Iterable[tuple[re.Pattern[str], re.Pattern[str]]], texts: Sequence[str]) -> list[tuple[str, str]]:
    """(pattern, text) wherever a pattern and its plain form find different matches (spans or named groups)."""
    return [
        (pattern.pattern[:30], text)
        for pattern, plain in pairs
        for text in texts
        if matches(pattern, text) != matches(plain, text)
    ]
