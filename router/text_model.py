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
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from router.features import FEATURES_VERSION, features, readable

FORMAT = "helpline-triage-model"
FORMAT_VERSION = 1
MAX_BYTES = 64 * 1024 * 1024  # a model bigger than this is a mistake, not a model


class InvalidModel(ValueError):
    """A model file or stored blob that cannot be used; the message says why."""


@dataclass(frozen=True)
class Scored:
    """A message's scores: categories by descending probability, and the features that weighed most for the top."""

    probabilities: tuple[float, ...]  # in the model's category order
    ranked: list[tuple[str, float]]
    weighing: list[tuple[str, float]]  # (readable feature, contribution to the top category's score)

    @property
    def category(self) -> str:
        return self.ranked[0][0]

    @property
    def confidence(self) -> float:
        return self.ranked[0][1]


class TextModel:
    """Immutable after construction; one instance is shared by every thread of a worker."""

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

    # ---- scoring ------------------------------------------------------------------------------------------------

    def probabilities(self, text: str) -> npt.NDArray[np.float64]:
        ids, values = self._vector(text)
        return _softmax(self._scores(ids, values))

    def score(self, text: str, top: int = 3, weighing: int = 5) -> Scored:
        ids, values = self._vector(text)
        probs = _softmax(self._scores(ids, values))
        order = np.argsort(-probs, kind="stable")[:top]
        ranked = [(self.categories[i], float(probs[i])) for i in order]
        heavy: list[tuple[str, float]] = []
        if len(ids):
            contributions = values * self.coef[ids, order[0]]
            for j in np.argsort(-contributions, kind="stable")[:weighing]:
                if contributions[j] <= 0:
                    break
                heavy.append((readable(self.vocabulary[ids[j]]), round(float(contributions[j]), 3)))
        return Scored(tuple(probs.tolist()), ranked, heavy)

    def _vector(self, text: str) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        counts: dict[int, int] = {}
        index = self._index
        for feature in features(text):
            i = index.get(feature)
            if i is not None:
                counts[i] = counts.get(i, 0) + 1
        if not counts:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64)
        ids = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        values = (np.log(tf) + 1.0) * self.idf[ids]
        norm = math.sqrt(float(values @ values))
        return ids, values / norm if norm else values

    def _scores(self, ids: npt.NDArray[np.intp], values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if not len(ids):
            return self.intercept.astype(np.float64)
        return np.asarray(values @ self.coef[ids] + self.intercept, dtype=np.float64)

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


def _softmax(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = np.exp(scores - scores.max())
    return np.asarray(shifted / shifted.sum(), dtype=np.float64)
