"""`helpline train`: fit the triage model from the shipped data and the desk's history, show how it does on the
held-out examples against the keyword scores and the current model, and publish it to the store.

Columns of the evaluation: `keywords` (the category keyword lists alone), `current <version>` (what workers route
with now, as configured), `new alone` (the new model without the keyword blend) and `new` (the new model as it will
route: blended with the keyword scores by `router.triage.keyword_weight`, with the confidence fallback). The held-out
examples are the same every run (a fixed split by a hash of the text), so the columns compare like with like.

Publishing writes the record first (record/triage_models.py: the model's bytes, when, by whom, the held-out
accuracy of every column, how many examples), then Redis (the active copy workers hot-reload): a model no record
holds is never made active, so the history and the active model survive a lost Redis.
"""

from __future__ import annotations

import getpass
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from core.errors import StoreUnavailable
from core.model_store import ModelStore
from core.redis_conn import connect
from core.settings import Settings
from core.store import Store
from record.engine import connect as connect_record
from record.triage_models import ModelEntry, save_model
from router.engine import Router, compile_router
from router.text_model import InvalidModel, TextModel
from router.training import Evaluation, evaluate, fit, format_report
from router.training_data import Example, shipped_examples, split
from workers.triage import current_model, desk_history, shipped_model


def evaluate_router(name: str, router: Router, examples: list[Example]) -> Evaluation:
    return evaluate(name, lambda e: router.classify_text(e.text), examples)


def accuracy_figures(evaluation: Evaluation) -> dict[str, float]:
    """Held-out accuracy overall (`all`) and per language, rounded for the record."""
    languages = sorted(evaluation.confusion)
    figures = {"all": evaluation.accuracy()} | {language: evaluation.accuracy(language) for language in languages}
    return {name: round(value, 4) for name, value in figures.items()}


def run_train(
    settings: Settings,
    *,
    shipped_only: bool,
    dry_run: bool,
    out: Path | None,
    stdout: TextIO,
    stderr: TextIO,
    shipped: list[Example] | None = None,
    by: str | None = None,
) -> int:
    """The whole command; returns its exit status (0 ok, 1 nothing usable to train on, 2 store or record unavailable).
    `by` is who trained it, for the record (default: the operating system's user).

    `shipped` replaces the shipped examples (tests train on a slice of them, in seconds)."""
    router_settings = settings.router
    categories = list(router_settings.categories)
    if shipped is None:
        shipped = shipped_examples(categories)
    training, held_out = split(shipped)
    store: Store | None = None
    current: TextModel | None
    if shipped_only:
        current = shipped_model()
    else:
        try:
            store = Store(connect(settings))
            record = connect_record(settings)
            history = desk_history(store, router_settings, record)
            current = current_model(store, router_settings, record)
            record.dispose()
        except StoreUnavailable as exc:
            stderr.write(f"error: {exc} (use --shipped-only to train without the desk's history)\n")
            return 2
        training += history
        corrections = sum(1 for e in history if e.source == "correction")
        stdout.write(f"desk history: {corrections} corrections, {len(history) - corrections} confirmed cases\n")
    if len({e.category for e in training}) < 3:
        stderr.write("error: fewer than three categories have training examples\n")
        return 1
    stdout.write(f"training on {len(training)} examples, {len(held_out)} held out ...\n")
    started = time.monotonic()
    model = fit(training)
    stdout.write(
        f"trained model {model.version}: {len(model.vocabulary)} features in {time.monotonic() - started:.1f}s"
        + ("" if model.meta.get("converged", True) else " (stopped at the iteration limit before full convergence)")
        + "\n"
    )
    alone = router_settings.model_copy(
        update={"triage": router_settings.triage.model_copy(update={"keyword_weight": 0.0, "min_confidence": 0.0})}
    )
    columns = [
        evaluate_router(
            "keywords",
            compile_router(
                router_settings.model_copy(
                    update={"triage": router_settings.triage.model_copy(update={"enabled": False})}
                ),
                validated=True,
            ),
            held_out,
        )
    ]
    if current is not None:
        try:
            stdout.write(f"current = model {current.version}\n")
            columns.append(
                evaluate_router(
                    "current",
                    compile_router(router_settings, validated=True, model=current),
                    held_out,
                )
            )
        except InvalidModel as exc:
            stdout.write(f"(the current model cannot be compared: {exc})\n")
    columns.append(evaluate_router("new alone", compile_router(alone, validated=True, model=model), held_out))
    columns.append(evaluate_router("new", compile_router(router_settings, validated=True, model=model), held_out))
    stdout.write(format_report(columns, categories) + "\n")
    if out is not None:
        out.write_bytes(model.to_bytes(half=True))
        stdout.write(f"wrote {out} ({out.stat().st_size} bytes)\n")
    if dry_run or store is None:
        stdout.write("not published (dry run)\n" if dry_run else "")
        return 0
    blob = model.to_bytes()
    entry = ModelEntry(
        version=model.version, model=blob, trained_at=datetime.now(UTC), trained_by=by or getpass.getuser(),
        training_examples=len(training), held_out_examples=len(held_out),
        accuracy={column.name: accuracy_figures(column) for column in columns},
    )  # fmt: skip
    record = connect_record(settings)
    try:
        with record.begin() as connection:
            save_model(connection, entry, activate_at=entry.trained_at)
    except SQLAlchemyError as exc:
        stderr.write(f"error: the record is unreachable, not published ({exc}); --out keeps the model in a file\n")
        return 2
    finally:
        record.dispose()
    ModelStore(store).publish(model.version, blob)
    stdout.write(f"published model {model.version}: workers switch to it within router.triage.reload_seconds\n")
    return 0
