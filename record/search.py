"""The search columns' contents. The folding itself (NFKC, casefold, traditional → simplified) is the router's
`normalize`, applied by the caller, so a message and a query are folded by the same code."""

from __future__ import annotations


def is_cjk(character: str) -> bool:
    return "\u3400" <= character <= "\u9fff" or "\uf900" <= character <= "\ufaff" or character >= "\U00020000"


def cjk_grams(folded: str) -> list[str]:
    """Every Chinese character and every pair of adjacent ones in `folded`, sorted and unique: a GIN index over
    them answers one- and two-character queries (`卡`, `冻结`), which trigrams cannot."""
    grams: set[str] = set()
    previous = ""
    for character in folded:
        if is_cjk(character):
            grams.add(character)
            if previous:
                grams.add(previous + character)
            previous = character
        else:
            previous = ""
    return sorted(grams)
