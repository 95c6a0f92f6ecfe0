"""The features the triage model sees in a message: the one definition, shared by training and scoring.

The text is folded like the keyword matcher's (router/normalize.py: width, traditional -> simplified, case,
apostrophes, dashes), then every run of digits becomes one `0`, so an amount, a date, a phone number or a one-time
code is never a feature of its own. Features (prefix says the kind):

- `w:` English words (ASCII letters, digits and apostrophes) and `b:` pairs of neighbouring words;
- `c:` character 3- and 4-grams of each space-separated token with a space at each end, so "refnd" still shares
  " ref", "ref" with "refund"; and character pairs that hold a Chinese character, so Chinese, which has no spaces,
  is read in overlapping bigrams to 4-grams (充值, 值失败, 没到账). English letter pairs are left out: they say
  little and were a third of an English message's features (the cost of scoring is per feature);
- `u:` single Chinese characters (钱, 卡, 退), which carry meaning on their own.

Training (router/training.py) hands this function to scikit-learn as the analyzer, and scoring
(router/text_model.py) calls it again, so a model can never be scored with features it was not trained on.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import pairwise

from router.normalize import has_cjk, normalize, single_spaced

FEATURES_VERSION = 3  # stored in every model: a model trained on other features is refused
_DIGITS = re.compile(r"\d+")
_WORDS = re.compile(r"[a-z0-9']+")


def model_text(text: str) -> str:
    """`text` as the model reads it: normalised, digit runs as one `0`, spaces collapsed."""
    return clean_normalised(normalize(text))


def clean_normalised(normalised: str) -> str:
    """`model_text` of text already in `normalize`'s form (the router has it): digits and spaces only."""
    return single_spaced(_DIGITS.sub("0", normalised)).strip()


def features(text: str) -> list[str]:
    """Every feature occurrence in `text` (raw, not yet normalised), repeats included."""
    return features_of_normalised(model_text(text))


KINDS = ("w", "b", "c", "u")  # the prefixes, in the order `feature_parts` returns the groups


def feature_parts(clean: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """The features of `clean` text (`model_text`'s form), unprefixed, by kind: words, word pairs, character
    n-grams, Chinese characters. Scoring looks each group up in its own table, which spares building a prefixed
    string per feature."""
    words = ascii_words(clean)
    pairs = [a + " " + b for a, b in pairwise(words)]
    grams: list[str] = []
    units: list[str] = []
    for token in clean.split(" ") if clean else ():
        grams += token_grams(token)
        units += token_units(token)
    return words, pairs, grams, units


def ascii_words(clean: str) -> list[str]:
    return [w for w in (w.strip("'") for w in _WORDS.findall(clean)) if w]


def token_grams(token: str) -> list[str]:
    """The character n-grams of one space-separated token, with a space at each end: 3- and 4-grams, and the pairs
    that hold a Chinese character. Per token (not across tokens), so scoring can remember a token's features: most
    words of a support message were seen in earlier ones."""
    padded = f" {token} "
    size = len(padded)
    grams = [padded[i : i + n] for n in (3, 4) for i in range(size - n + 1)]
    if not token.isascii():  # Chinese words are mostly two characters; English letter pairs say little
        grams += [gram for i in range(size - 1) if not (gram := padded[i : i + 2]).isascii()]
    return grams


def token_units(token: str) -> list[str]:
    return [] if token.isascii() else [ch for ch in token if has_cjk(ch)]


def features_of_normalised(clean: str) -> list[str]:
    """Every feature of `clean` text, prefixed with its kind (what training sees)."""
    return [f"{kind}:{value}" for kind, group in zip(KINDS, feature_parts(clean), strict=True) for value in group]


def feature_counts(text: str) -> Counter[str]:
    return Counter(features(text))


def readable(feature: str) -> str:
    """A feature as the trace shows it: words bare, character n-grams in quotes with visible ends."""
    kind, _, value = feature.partition(":")
    if kind in ("w", "b", "u"):
        return value
    return '"' + value.replace(" ", "␣") + '"'
