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
import zipfile
from array import array
from collections.abc import Sequence
from itertools import pairwise, repeat
from typing import Any, NamedTuple

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
# Texts scored by one pass of the kernel: enough to spread its per-call costs.
KERNEL_BATCH = 128
# Fewer if texts × vocabulary would pass this many entries: the size of `_entries`'s table (4 bytes an entry).
TABLE_ENTRIES = 1 << 21
SCORE_CACHE = 20_000  # texts; a Scored is a few hundred bytes
MAX_BYTES = 64 * 1024 * 1024  # a model bigger than this is a mistake, not a model


class InvalidModel(ValueError):
    """A model file or stored blob that cannot be used; the message says why."""


class Scored(NamedTuple):
    """A message's scores: categories by descending probability, and the features that weighed most for the top.
    (A named tuple: the kernel makes one per text, and a tuple is made in a fraction of a frozen dataclass's time.)"""

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
        self._token_ids: dict[str, tuple[array[int], list[str], array[int]]] = {}  # token -> `_token_features`
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
        # the kernel's table (`_score_batch`), transposed: row 0 idf², then idf × coefficient per category
        self._columns = np.ascontiguousarray(np.hstack([idf64 * idf64, idf64 * coef.astype(np.float64)]).T)
        self._intercept = intercept.astype(np.float64)
        self._category_array = np.array(self.categories, dtype=object)

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
        if top != 3 or weighing != 5:
            return self.score_clean(clean_normalised(text), top, weighing)
        return self.score_many_normalised([text])[0]

    def score_many_normalised(self, texts: Sequence[str]) -> list[Scored]:
        """`score_normalised` of many texts in one pass of the kernel (`score_many_clean`); remembered alike."""
        cleans = [clean_normalised(text) for text in texts]
        remembered = self._scored
        out = [remembered.get(clean) for clean in cleans]
        missing = list(dict.fromkeys(clean for clean, scored in zip(cleans, out, strict=True) if scored is None))
        if not missing:
            return out  # type: ignore[return-value]  # every one remembered
        fresh = dict(zip(missing, self.score_many_clean(missing), strict=True))
        for clean, scored in fresh.items():
            if len(remembered) >= SCORE_CACHE:  # bounded, like the token cache
                remembered.clear()
            remembered[clean] = scored
        return [scored if scored is not None else fresh[clean] for clean, scored in zip(cleans, out, strict=True)]

    def score_clean(self, clean: str, top: int = 3, weighing: int = 5) -> Scored:
        return self.score_many_clean([clean], top, weighing)[0]

    def score_many_clean(self, cleans: Sequence[str], top: int = 3, weighing: int = 5) -> list[Scored]:
        """The kernel: score `cleans` (`model_text`'s form) together, with a fixed number of numpy calls per batch
        of KERNEL_BATCH rather than per text (each call costs a microsecond or more whatever its size). A text's
        scores depend on its own features alone, in an order they fix, so scoring a text alone or in any batch
        gives the same floats (tests/test_triage.py checks it)."""
        out: list[Scored] = []
        size = max(1, min(KERNEL_BATCH, TABLE_ENTRIES // len(self.vocabulary)))
        for at in range(0, len(cleans), size):
            out += self._score_batch(cleans[at : at + size], top, weighing)
        return out

    def _score_batch(self, cleans: Sequence[str], top: int, weighing: int) -> list[Scored]:
        # Every feature occurrence of every text, text after text, as vocabulary ids in one flat buffer.
        found: array[int] = array("q")
        sizes = []
        for clean in cleans:
            before = len(found)
            self._found_into(clean, found)
            sizes.append(len(found) - before)
        n = len(cleans)
        logits = np.tile(self._intercept, (n, 1))  # a text without a known feature: the intercepts alone
        if found:
            texts, cols, tf = self._entries(np.frombuffer(found, dtype=np.int64), sizes)
            counts = np.bincount(texts, minlength=n)  # distinct features per text
            with_features = counts > 0
            starts = (np.cumsum(counts) - counts)[with_features]
            # The table's column 0 holds idf², the others idf × coefficient: each text's rows times its tf weights
            # (sublinear, as TfidfVectorizer: 1 + log(count)) sum to its unnormalised scores, and times the squared
            # weights in column 0 to its squared norm.
            repeated = tf > 1
            tf[repeated] = 1.0 + np.log(tf[repeated])
            # one row per column of the table, so the sums run along contiguous memory (`take` gathers them in half
            # the time of `[:, cols]`)
            rows = np.take(self._columns, cols, axis=1)
            weighted = rows * tf
            weighted[0] *= tf
            sums = np.add.reduceat(weighted, starts, axis=1)
            norms = np.zeros(n)
            norms[with_features] = np.sqrt(sums[0])
            logits[with_features] = (sums[1:] / norms[with_features]).T + self._intercept
        exps = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = exps / exps.sum(axis=1, keepdims=True)
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top]  # ties keep the categories' order
        heavy: list[tuple[tuple[str, float], ...]] = [()] * n
        if found and weighing:
            # each feature's contribution to its text's top category: (idf × coefficient) × (tf / norm)
            contributions = rows[1 + order[texts, 0], np.arange(len(cols))] * (tf / norms[texts])
            chosen = _heaviest(contributions, texts, starts, counts[with_features], weighing)  # by text
            names = map(self._readable.__getitem__, cols[chosen].tolist())
            weights = map(round, contributions[chosen].tolist(), repeat(3))  # Python's round, as the trace had
            pairs = list(zip(names, weights, strict=True))
            ends = np.cumsum(np.bincount(texts[chosen], minlength=n)).tolist()
            heavy = [tuple(pairs[start:end]) for start, end in zip([0, *ends], ends, strict=False)]
        best = np.take_along_axis(probabilities, order, axis=1).tolist()
        labels = self._category_array[order].tolist()
        return [
            Scored(tuple(p), tuple(zip(names, values, strict=True)), h)
            for p, names, values, h in zip(probabilities.tolist(), labels, best, heavy, strict=True)
        ]

    def _entries(
        self, ids: npt.NDArray[np.int64], sizes: list[int]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """The distinct (text, feature) pairs of the occurrences `ids` (`sizes` of them per text, in order), with
        their counts: by text, and within a text by first occurrence, as `Counter` orders them (the weighing's
        ties keep that order). No sort (sorting the occurrences cost more than the rest of the kernel): a table
        with a slot per (text, feature) takes the place of each pair's first occurrence (`minimum.at`, whatever
        the order it visits them in), and the occurrences that are their pair's first are the distinct pairs,
        already in that order. Only the slots of pairs present are written, and read."""
        m = len(ids)
        features_count = len(self.vocabulary)
        texts = np.repeat(np.arange(len(sizes), dtype=np.intp), sizes)
        keys = texts * features_count + ids
        places = np.arange(m, dtype=np.int32)
        table = np.empty(len(sizes) * features_count, dtype=np.int32)
        table[keys] = m
        np.minimum.at(table, keys, places)
        firsts = table[keys]  # per occurrence, the place of its pair's first occurrence
        distinct = firsts == places
        counts = np.bincount(firsts, minlength=m)[distinct]
        return texts[distinct], ids[distinct].astype(np.intp), counts.astype(np.float64)

    def _found(self, clean: str) -> list[int]:
        found: array[int] = array("q")
        self._found_into(clean, found)
        return found.tolist()

    def _found_into(self, clean: str, out: array[int]) -> None:
        """Append to `out` the vocabulary ids of the features of `clean`, repeats included, in `feature_parts`'
        order (the same multiset, which tests/test_triage.py checks against scikit-learn). A token's features —
        its words and its character features — are remembered: the words of support messages repeat, so most
        tokens cost one dictionary lookup and two array copies. Word pairs span tokens: they are looked up by the
        pair of words (a tuple, built in C)."""
        if not clean:
            return
        cache = self._token_ids
        word_ids: array[int] = array("q")
        words: list[str] = []
        char_ids: array[int] = array("q")
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
            word_ids.extend([i for i in map(self._pairs.get, pairwise(words)) if i is not None])
        out += word_ids
        out += char_ids

    def _token_features(self, token: str) -> tuple[array[int], list[str], array[int]]:
        """One token's word ids, its words (for the pairs), and its character n-gram and Chinese character ids.
        `ascii_words` of a whole text is the concatenation of its tokens' (a word holds no space)."""
        words_table, _, grams_table, units_table = self._by_kind
        words = ascii_words(token)
        word_ids = [i for i in map(words_table.get, words) if i is not None]
        char_ids = [i for i in map(grams_table.get, token_grams(token)) if i is not None]
        char_ids += [i for i in map(units_table.get, token_units(token)) if i is not None]
        return array("q", word_ids), words, array("q", char_ids)

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


def _heaviest(
    contributions: npt.NDArray[np.float64],
    texts: npt.NDArray[np.intp],
    starts: npt.NDArray[np.intp],
    sizes: npt.NDArray[np.intp],
    weighing: int,
) -> npt.NDArray[np.intp]:
    """The entries of each text's `weighing` largest positive contributions, by text, largest first, ties
    in the entries' order: what a stable descending sort of each text's entries would give, without sorting them
    all. `starts` and `sizes` are the entries' runs of the texts that have any.

    Each round takes every text's largest remaining value out, so after `weighing` rounds the last maximum is a
    text's `weighing`-th largest distinct value, and every entry of its top `weighing` is at least that; only
    those few candidates are then sorted."""
    work = np.where(contributions > 0, contributions, -np.inf)
    floor = np.full(len(work), -np.inf)
    for _ in range(weighing):
        floor = np.repeat(np.maximum.reduceat(work, starts), sizes)
        work[work >= floor] = -np.inf
    candidates = np.flatnonzero((contributions >= floor) & (contributions > 0))  # by text, then first occurrence
    ranked = candidates[np.lexsort((-contributions[candidates], texts[candidates]))]  # stable
    of_text = texts[ranked]
    place = np.arange(len(ranked)) - np.searchsorted(of_text, of_text)  # place within its text
    return ranked[place < weighing]
