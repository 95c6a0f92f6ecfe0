"""Fit the triage model with scikit-learn, export it as plain arrays, and evaluate models on held-out examples.

The pipeline is the baseline the issue names, which measured well enough to keep: TF-IDF over router/features.py's
word and character n-grams (sublinear tf, l2 norm) and a multinomial logistic regression. Rare features — seen in
fewer than `min_df` (5) messages — are dropped before fitting, so the model never carries one customer's name,
number or code; digits were already folded to `0` by the features. scikit-learn is imported here only: workers
score with the exported arrays (router/text_model.py) and never import it.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from router.features import features
from router.text_model import TextModel
from router.training_data import Example

MIN_DF = 5
C = 10.0  # inverse regularisation; 3 to 30 measured within half a point on the held-out slice


def fit(examples: Sequence[Example], *, min_df: int = MIN_DF, version: str | None = None) -> TextModel:
    """Train on `examples` (weights honoured) and return the exported model."""
    vectorizer, classifier = fit_pipeline(examples, min_df=min_df)
    model = export(vectorizer, classifier, examples, min_df=min_df, version=version)
    model.meta["converged"] = bool(classifier.n_iter_.max() < classifier.max_iter)
    return model


def fit_pipeline(examples: Sequence[Example], *, min_df: int = MIN_DF) -> tuple[Any, Any]:
    """The fitted scikit-learn (TfidfVectorizer, LogisticRegression): for `export`, and for tests to compare with."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    labels = [e.category for e in examples]
    if len(set(labels)) < 3:  # two classes would make scikit-learn fit one binary model, another shape
        raise ValueError("training needs examples of at least three categories")
    vectorizer = TfidfVectorizer(analyzer=features, min_df=min_df, sublinear_tf=True, dtype=np.float64)
    matrix = vectorizer.fit_transform([e.text for e in examples])
    # saga: converges in ~30 passes on this sparse data, single-threaded (lbfgs on a busy 2-core machine spent most of
    # its time in BLAS thread contention); a fixed random_state keeps a training reproducible.
    classifier = LogisticRegression(C=C, solver="saga", tol=1e-3, max_iter=300, random_state=0)
    with warnings.catch_warnings():
        # Not converging to 1e-3 within max_iter still gives a usable model; fit() records it in the model's meta
        # and `helpline train` says so, instead of a bare library warning.
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(matrix, labels, sample_weight=np.array([e.weight for e in examples]))
    return vectorizer, classifier


def export(
    vectorizer: Any, classifier: Any, examples: Sequence[Example], *, min_df: int, version: str | None = None
) -> TextModel:
    """The plain-array model of a fitted pipeline."""
    vocabulary = vectorizer.get_feature_names_out().tolist()
    counts = Counter((e.language, e.source) for e in examples)
    return TextModel(
        version=version or new_version(examples),
        categories=[str(c) for c in classifier.classes_],
        vocabulary=vocabulary,
        idf=vectorizer.idf_.astype(np.float32),
        coef=classifier.coef_.T.astype(np.float32),
        intercept=classifier.intercept_.astype(np.float32),
        meta={
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "examples": {f"{language}/{source}": n for (language, source), n in sorted(counts.items())},
            "min_df": min_df,
            "C": C,
        },
    )


def new_version(examples: Sequence[Example]) -> str:
    """Time of training plus a digest of the data: two trainings never share a version."""
    digest = hashlib.sha256()
    for e in examples:
        digest.update(f"{e.category}\t{e.weight}\t{e.text}\n".encode())
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{digest.hexdigest()[:8]}"


# ---- evaluation ----------------------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """How one way of proposing categories did on the held-out examples."""

    name: str
    # language -> true category -> predicted category -> count
    confusion: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)

    def add(self, language: str, truth: str, predicted: str) -> None:
        self.confusion.setdefault(language, defaultdict(Counter))[truth][predicted] += 1

    def accuracy(self, language: str | None = None, category: str | None = None) -> float:
        right = total = 0
        for lang, rows in self.confusion.items():
            if language is not None and lang != language:
                continue
            for truth, predicted in rows.items():
                if category is not None and truth != category:
                    continue
                total += sum(predicted.values())
                right += predicted[truth]
        return right / total if total else 0.0

    def count(self, language: str | None = None) -> int:
        return sum(
            sum(p.values())
            for lang, rows in self.confusion.items()
            if language is None or lang == language
            for p in rows.values()
        )


def evaluate(name: str, propose: Callable[[Example], str], examples: Sequence[Example]) -> Evaluation:
    result = Evaluation(name)
    for example in examples:
        result.add(example.language, example.category, propose(example))
    return result


def format_report(evaluations: Sequence[Evaluation], categories: Sequence[str], *, confusion_of: int = -1) -> str:
    """Accuracy per language and category of every evaluation side by side, then the confusion tables (rows: the
    true category, columns: what was proposed) of `evaluations[confusion_of]` per language."""
    languages = sorted({lang for e in evaluations for lang in e.confusion})
    names = [e.name for e in evaluations]
    width = max(12, *(len(n) for n in names))
    lines = ["accuracy on the held-out examples (never trained on):", ""]
    lines.append(f"{'':<22}{'n':>6}  " + "  ".join(f"{n:>{width}}" for n in names))
    for language in [*languages, None]:
        label = language or "all"
        n = evaluations[0].count(language)
        lines.append(f"{label:<22}{n:>6}  " + "  ".join(f"{e.accuracy(language):>{width}.1%}" for e in evaluations))
    for language in languages:
        lines.append("")
        for category in categories:
            n = sum(evaluations[0].confusion.get(language, {}).get(category, Counter()).values())
            if not n:
                continue
            cells = "  ".join(f"{e.accuracy(language, category):>{width}.1%}" for e in evaluations)
            lines.append(f"{language} {category:<19}{n:>6}  {cells}")
    chosen = evaluations[confusion_of]
    short = {c: c[:6] for c in categories}
    for language in languages:
        rows = chosen.confusion.get(language, {})
        lines += ["", f"confusion, {chosen.name}, {language} (rows: true category; columns: proposed)"]
        lines.append(f"{'':<14}" + "".join(f"{short[c]:>7}" for c in categories))
        for truth in categories:
            if truth not in rows:
                continue
            lines.append(f"{truth:<14}" + "".join(f"{rows[truth][c] or '.':>7}" for c in categories))
    return "\n".join(lines)
