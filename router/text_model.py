"""The triage model as data: vocabulary, idf, coefficients and categories, scored with a sparse dot product.

A model is never code (no pickle): it travels as an `.npz` archive of plain arrays (`np.load(allow_pickle=False)`
refuses anything else) plus a JSON header, and `TextModel.from_bytes` validates every part before a router may use
it — the format and features version, shapes that agree, finite numbers, unique non-empty categories and
features — raising `InvalidModel` with the reason otherwise.

Scoring one message repeats what scikit-learn's TfidfVectorizer (sublinear tf, l2 norm) and multinomial
LogisticRegression do, on the few hundred features the message has: counts -> (1 + log tf) * idf -> l2-normalised ->
times the coefficient rows of those features -> softmax. That is tens of microseconds, where a call through the
fitted scikit-learn pipeline costs about 2 ms (tests/test_triage_model.py checks both give the same probabilities).
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from router.features import (
    FEATURES_VERSION,
    KINDS,
    ascii_words,
    clean_normalised,
    model_text,
    readable,
    token_grams,
    token_units,
)

FORMAT = "helpline-triage-model"
FORMAT_VERSION = 1
TOKEN_CACHE = 50_000
SCORE_CACHE = 20_000  # texts; a Scored is a few hundred bytes
MAX_BYTES = 64 * 1024 * 1024  # a model bigger than this is a mistake, not a model


class InvalidModel(ValueError):
    """A model file or stored blob that cannot be used; the message says why."""


@dataclass(frozen=True)
class Scored:
    """A message's scores: categories by descending probability, and the features that weighed most for the top."""

    probabilities: tuple[float, ...]  # in the model's category order
    ranked: tuple[tuple[str, float], ...]
    weighing: tuple[tuple[str, float], ...]  # (readable feature, contribution to the top category's score)

    @property
    def category(self) -> str:
        return self.ranked[0][0]

    @property
    def confidence(self) -> float:
        return self.ranked[0][1]


class TextModel:
    """Immutable after construction but for its two bounded caches (tokens, texts), whose dictionary operations are
    atomic: one instance is shared by every thread of a worker."""

    def __init__(
        self,
        *,
        version: str,
        categories: list[str],
        vocabulary: list[str],
        idf: npt.NDArray[np.float32],
        coef: npt.NDArray[np.float32],
        intercept: npt.NDArray[np.float32],
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.version = version
        self.categories = list(categories)
        self.vocabulary = list(vocabulary)
        self.idf = idf
        self.coef = coef  # (features, categories)
        self.intercept = intercept
        self.meta = dict(meta or {})
        self._index = {feature: i for i, feature in enumerate(self.vocabulary)}
        _validate(self)
        self._scored: dict[str, Scored] = {}  # cleaned text -> its score (`score_normalised`)
        self._token_ids: dict[str, tuple[list[int], list[str], list[int]]] = {}  # token -> `_token_features`
        # One lookup table per kind of feature, keyed without the prefix (router/features.py `feature_parts`).
        self._by_kind: list[dict[str, int]] = [{} for _ in KINDS]
        for i, feature in enumerate(self.vocabulary):
            kind, _, value = feature.partition(":")
            if kind in KINDS:
                self._by_kind[KINDS.index(kind)][value] = i
        # word pairs keyed by the pair of words: pairwise builds the tuples in C; joining a string per pair costs more
        pairs = self._by_kind[KINDS.index("b")]
        self._pairs: dict[tuple[str, ...], int] = {tuple(value.split(" ", 1)): i for value, i in pairs.items()}
        self._readable = [readable(feature) for feature in self.vocabulary]  # the trace's form, made once
        idf64 = idf.astype(np.float64)[:, None]
        self._table = np.hstack([idf64 * idf64, idf64 * coef.astype(np.float64)])  # see score_clean
        self._intercept_list = [float(v) for v in intercept.tolist()]

    # ---- scoring ------------------------------------------------------------------------------------------------

    def probabilities(self, text: str) -> npt.NDArray[np.float64]:
        return np.array(self.score(text).probabilities)

    def score(self, text: str, top: int = 3, weighing: int = 5) -> Scored:
        """Score raw `text`."""
        return self.score_clean(model_text(text), top, weighing)

    def score_normalised(self, text: str, top: int = 3, weighing: int = 5) -> Scored:
        """Score text already in router/normalize.py's keyword form (the router has it): skips the folding.

        The router's calls (the default `top` and `weighing`) are remembered per cleaned text: support traffic
        repeats itself ("hi", "thanks", "where is my order 0" once digits are folded), a replay or a dry run
        decides the same texts again, and a remembered score costs one dictionary lookup instead of ~50 µs."""
        clean = clean_normalised(text)
        if top != 3 or weighing != 5:
            return self.score_clean(clean, top, weighing)
        scored = self._scored.get(clean)
        if scored is None:
            scored = self.score_clean(clean)
            if len(self._scored) >= SCORE_CACHE:  # bounded, like the token cache
                self._scored.clear()
            self._scored[clean] = scored
        return scored

    def score_clean(self, clean: str, top: int = 3, weighing: int = 5) -> Scored:
        # Few numpy calls on purpose: each costs a microsecond or more whatever its size. The table's column 0 holds
        # idf², the others idf × coefficient, so the product of the tf weights with the message's rows gives the 11
        # unnormalised scores, and (when no feature repeats, tf = 1 for all) the squared norm in column 0 too; the
        # rest is plain Python on 11 numbers.
        found = self._found(clean)
        if not found:
            return self._finish(self._intercept_list, top, None, None, weighing)
        counts = Counter(found)  # first occurrences in order: the weighing's ties keep the features' order
        size = len(counts)
        rows = self._table[np.fromiter(counts, np.intp, size)]
        tf = np.fromiter(counts.values(), np.float64, size)
        if size == len(found):
            both = (tf @ rows).tolist()
            norm = math.sqrt(both[0])
        else:  # sublinear tf, as TfidfVectorizer: 1 + log(count)
            np.log(tf, out=tf)
            tf += 1.0
            both = (tf @ rows).tolist()
            norm = math.sqrt(float((tf * tf) @ rows[:, 0]))
        logits = [v / norm + b for v, b in zip(both[1:], self._intercept_list, strict=True)]
        return self._finish(logits, top, rows, (tf / norm, list(counts)), weighing)

    def _found(self, clean: str) -> list[int]:
        """The vocabulary ids of the features of `clean`, repeats included, in `feature_parts`' order (the same
        multiset, which tests/test_triage.py checks against scikit-learn). A token's features — its words and its
        character features — are remembered: the words of support messages repeat, so most tokens cost one
        dictionary lookup. Word pairs span tokens: they are looked up by the pair of words (a tuple, built in C)."""
        if not clean:
            return []
        cache = self._token_ids
        word_ids: list[int] = []
        words: list[str] = []
        char_ids: list[int] = []
        for token in clean.split(" "):
            known = cache.get(token)
            if known is None:
                known = self._token_features(token)
                if len(cache) >= TOKEN_CACHE:  # bounded: a flood of unique tokens cannot grow it
                    cache.clear()
                cache[token] = known
            word_ids += known[0]
            words += known[1]
            char_ids += known[2]
        if len(words) > 1:
            word_ids += [i for i in map(self._pairs.get, pairwise(words)) if i is not None]
        return word_ids + char_ids

    def _token_features(self, token: str) -> tuple[list[int], list[str], list[int]]:
        """One token's word ids, its words (for the pairs), and its character n-gram and Chinese character ids.
        `ascii_words` of a whole text is the concatenation of its tokens' (a word holds no space)."""
        words_table, _, grams_table, units_table = self._by_kind
        words = ascii_words(token)
        word_ids = [i for i in map(words_table.get, words) if i is not None]
        char_ids = [i for i in map(grams_table.get, token_grams(token)) if i is not None]
        char_ids += [i for i in map(units_table.get, token_units(token)) if i is not None]
        return word_ids, words, char_ids

    def _finish(
        self,
        logits: list[float],
        top: int,
        rows: npt.NDArray[np.float64] | None,
        scaled: tuple[npt.NDArray[np.float64], list[int]] | None,
        weighing: int,
    ) -> Scored:
        peak = max(logits)
        exps = [math.exp(v - peak) for v in logits]
        total = sum(exps)
        probabilities = tuple(v / total for v in exps)
        order = sorted(range(len(probabilities)), key=probabilities.__getitem__, reverse=True)[:top]  # stable
        ranked = [(self.categories[i], probabilities[i]) for i in order]
        heavy: list[tuple[str, float]] = []
        if rows is not None and scaled is not None and weighing:
            scale, ids = scaled
            contributions = rows[:, 1 + order[0]] * scale
            # a stable sort of the negated contributions: ties keep the features' order, as a stable descending sort
            for j in np.argsort(-contributions, kind="stable")[:weighing].tolist():
                value = float(contributions[j])
                if value <= 0:
                    break
                heavy.append((self._readable[ids[j]], round(value, 3)))
        return Scored(probabilities, tuple(ranked), tuple(heavy))

    # ---- the plain format ---------------------------------------------------------------------------------------

    def header(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "features_version": FEATURES_VERSION,
            "version": self.version,
            "categories": self.categories,
            "meta": self.meta,
        }

    def to_bytes(self, *, half: bool = False) -> bytes:
        """The plain format; `half` stores the coefficients as float16 (half the size, for the shipped file: the
        probabilities move by well under 1%)."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            header=np.array(json.dumps(self.header(), ensure_ascii=False)),
            vocabulary=np.array(self.vocabulary, dtype=np.str_),
            idf=self.idf.astype(np.float32),
            coef=self.coef.astype(np.float16 if half else np.float32),
            intercept=self.intercept.astype(np.float32),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> TextModel:
        """Parse and validate a model; `InvalidModel` says what is wrong with anything else."""
        if not blob:
            raise InvalidModel("empty model")
        if len(blob) > MAX_BYTES:
            raise InvalidModel(f"model of {len(blob)} bytes is over the {MAX_BYTES} byte limit")
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in ("header", "vocabulary", "idf", "coef", "intercept")}
        except KeyError as exc:
            raise InvalidModel(f"model lacks the array {exc}") from None
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise InvalidModel(f"not a model archive (.npz of plain arrays): {exc}") from None
        try:
            header = json.loads(str(arrays["header"]))
        except ValueError as exc:
            raise InvalidModel(f"header is not JSON: {exc}") from None
        if not isinstance(header, dict):
            raise InvalidModel("header is not a JSON object")
        if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
            raise InvalidModel(f"not a {FORMAT} version {FORMAT_VERSION} file")
        if header.get("features_version") != FEATURES_VERSION:
            raise InvalidModel(
                f"trained on features version {header.get('features_version')!r}, this Helpline reads "
                f"{FEATURES_VERSION}: retrain with `helpline train`"
            )
        categories, version = header.get("categories"), header.get("version")
        if not isinstance(version, str) or not version:
            raise InvalidModel("header.version must be a non-empty string")
        if not isinstance(categories, list) or not all(isinstance(c, str) and c for c in categories):
            raise InvalidModel("header.categories must be a list of category names")
        vocabulary = arrays["vocabulary"]
        if vocabulary.dtype.kind != "U" or vocabulary.ndim != 1:
            raise InvalidModel("vocabulary must be a list of strings")
        numbers = {}
        for name in ("idf", "coef", "intercept"):
            value = arrays[name]
            if value.dtype.kind != "f":
                raise InvalidModel(f"{name} must hold floating-point numbers, not {value.dtype}")
            numbers[name] = value.astype(np.float32)
        meta = header.get("meta") or {}
        if not isinstance(meta, dict):
            raise InvalidModel("header.meta must be an object")
        return cls(
            version=version,
            categories=categories,
            vocabulary=[str(v) for v in vocabulary],
            idf=numbers["idf"],
            coef=numbers["coef"],
            intercept=numbers["intercept"],
            meta=meta,
        )


def _validate(model: TextModel) -> None:
    features_count, classes = len(model.vocabulary), len(model.categories)
    if classes < 2:
        raise InvalidModel("a model needs at least two categories")
    if len(set(model.categories)) != classes:
        raise InvalidModel("categories repeat")
    if not features_count:
        raise InvalidModel("the vocabulary is empty")
    if len(model._index) != features_count or not all(model.vocabulary):
        raise InvalidModel("vocabulary entries must be unique and non-empty")
    if model.idf.shape != (features_count,):
        raise InvalidModel(f"idf has shape {model.idf.shape}, expected ({features_count},)")
    if model.coef.shape != (features_count, classes):
        raise InvalidModel(f"coef has shape {model.coef.shape}, expected ({features_count}, {classes})")
    if model.intercept.shape != (classes,):
        raise InvalidModel(f"intercept has shape {model.intercept.shape}, expected ({classes},)")
    for name in ("idf", "coef", "intercept"):
        if not np.all(np.isfinite(getattr(model, name))):
            raise InvalidModel(f"{name} holds a value that is not a finite number")
    if np.any(model.idf <= 0):
        raise InvalidModel("idf values must be positive")
