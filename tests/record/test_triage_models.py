"""Learned triage models in the record: `helpline train` records every version (bytes, when, by whom, held-out
accuracy, example counts) before it publishes the active copy to Redis, and a worker that finds Redis empty routes
with the record's active model and announces it there again."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from core.model_store import ModelStore
from core.settings import Settings
from core.store import Store
from helpline.train_cli import run_train
from record.engine import engine_for
from record.models import TriageModelRecord
from record.triage_models import activate, active_model, model_history
from router.text_model import TextModel
from router.training_data import Example, shipped_examples
from tests.record.test_record_updates import down
from workers.context import context_for
from workers.live_router import LiveRouter
from workers.triage import shipped_model


@pytest.fixture
def record(settings: Settings) -> Iterator[Engine]:
    assert settings.database.url is not None
    engine = engine_for(settings.database.url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def few_examples() -> list[Example]:
    """Enough of the shipped data for a model in a second or two: every Chinese example, one English in twelve."""
    from core.settings import load_settings
    from tests.test_triage import SETTINGS

    everything = shipped_examples(list(load_settings(SETTINGS).router.categories))
    english = [e for e in everything if e.language == "en"]
    return [e for e in everything if e.language == "zh"] + english[::12]


def train(settings: Settings, shipped: list[Example], by: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_train(
        settings, shipped_only=False, dry_run=False, out=None, stdout=out, stderr=err, shipped=shipped, by=by
    )
    return code, out.getvalue(), err.getvalue()


def test_train_records_every_version_and_a_worker_restores_the_active_one_into_an_empty_redis(
    settings: Settings, store: Store, record: Engine, few_examples: list[Example]
) -> None:
    code, report, err = train(settings, few_examples, "ana")
    assert code == 0, err
    first = ModelStore(store).current_version()
    assert first is not None and f"published model {first}" in report
    code, _, err = train(settings, few_examples[::2], "bo")
    assert code == 0, err
    second = ModelStore(store).current_version()
    assert second is not None and second != first
    with record.connect() as connection:
        history = model_history(connection)
        assert active_model(connection) == (second, ModelStore(store).get(second))
    assert [(m.version, m.trained_by) for m in history] == [(second, "bo"), (first, "ana")]
    newest = history[0]
    assert newest.training_examples + newest.held_out_examples == len(few_examples[::2])
    assert newest.held_out_examples > 0 and newest.activated_at is not None
    assert set(newest.accuracy) == {"keywords", "current", "new alone", "new"}  # what the report printed
    assert 0.0 < newest.accuracy["new"]["all"] <= 1.0 and {"en", "zh"} <= set(newest.accuracy["new"])

    with record.begin() as connection:  # a rollback in the record: the first version is active again
        activate(connection, first, newest.activated_at.replace(year=newest.activated_at.year + 1))
    store.redis.flushdb()  # Redis lost everything (no AOF, a new server)
    assert ModelStore(store).current_version() is None
    context = context_for(settings, store)  # a worker starting now
    routing = context.router().model
    assert routing is not None and routing.version == first
    assert ModelStore(store).current_version() == first  # announced again for the others' hot reload
    blob = ModelStore(store).get(first)
    assert blob is not None and TextModel.from_bytes(blob).version == first
    with record.connect() as connection:
        assert connection.scalar(select(TriageModelRecord.model).where(TriageModelRecord.version == first)) == blob


def test_a_model_the_store_publishes_meanwhile_stays_current(
    settings: Settings, store: Store, record: Engine, few_examples: list[Example]
) -> None:
    assert train(settings, few_examples, "ana")[0] == 0
    recorded = ModelStore(store).current_version()
    store.redis.flushdb()
    shipped = shipped_model()
    assert shipped is not None
    ModelStore(store).publish(shipped.version, shipped.to_bytes())  # published before this worker starts
    live = LiveRouter.from_settings(settings, store=store, record=record)
    assert live.model is not None and live.model.version == shipped.version != recorded
    assert ModelStore(store).current_version() == shipped.version


def test_train_publishes_nothing_when_the_record_is_unreachable(
    settings: Settings, store: Store, record: Engine, few_examples: list[Example]
) -> None:
    code, _, err = train(down(settings), few_examples, "ana")
    assert code == 2 and "the record is unreachable, not published" in err
    assert ModelStore(store).current_version() is None and ModelStore(store).versions() == []
    with record.connect() as connection:
        assert model_history(connection) == []
