"""The features the triage model sees in a message: the one definition, shared by training and scoring.

The text is folded like the keyword matcher's (router/normalize.py: width, traditional -> simplified, case,
apostrophes, dashes), then every run of digits becomes one `0`, so an amount, a date, a phone number or a one-time
code is never a feature of its own. Features (prefix says the kind):

- `w:` English words (ASCII letters, digits and apostrophes) and `b:` pairs of neighbouring words;
- `c:` character n-grams of 2 to 4 characters over the text with its spaces collapsed and one space at each end,
  so "refnd" still shares "re", "ref", "nd " with "refund", and Chinese, which has no spaces, is read in
  overlapping bigrams to 4-grams (充值, 值失败, 没到账);
- `u:` single Chinese characters (钱, 卡, 退), which carry meaning on their own.

Training (router/training.py) hands this function to scikit-learn as the analyzer, and scoring
(router/text_model.py) calls it again, so a model can never be scored with features it was not trained on.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import pairwise

from router.normalize import has_cjk, normalize

FEATURES_VERSION = 1  # stored in every model: a model trained on other features is refused
_DIGITS = re.compile(r"\d+")
_WORDS = re.compile(r"[a-z0-9']+")
_SPACES = re.compile(r"\s+")


def model_text(text: str) -> str:
    """`text` as the model reads it: normalised, digit runs as one `0`, spaces collapsed."""
    return _SPACES.sub(" ", _DIGITS.sub("0", normalize(text))).strip()


def features(text: str) -> list[str]:
    """Every feature occurrence in `text` (raw, not yet normalised), repeats included."""
    return features_of_normalised(model_text(text))


def features_of_normalised(clean: str) -> list[str]:
    out: list[str] = []
    words = [w.strip("'") for w in _WORDS.findall(clean)]
    words = [w for w in words if w]
    out += ["w:" + w for w in words]
    out += ["b:" + a + " " + b for a, b in pairwise(words)]
    padded = f" {clean} "
    size = len(padded)
    for n in (2, 3, 4):
        out += ["c:" + padded[i : i + n] for i in range(size - n + 1)]
    if not clean.isascii():
        out += ["u:" + ch for ch in clean if has_cjk(ch)]
    return out


def feature_counts(text: str) -> Counter[str]:
    return Counter(features(text))


def readable(feature: str) -> str:
    """A feature as the trace shows it: words bare, character n-grams in quotes with visible ends."""
    kind, _, value = feature.partition(":")
    if kind in ("w", "b", "u"):
        return value
    return '"' + value.replace(" ", "␣") + '"'
