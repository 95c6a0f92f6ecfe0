"""The triage model: it beats the keyword lists on held-out data in both languages, scores like scikit-learn without
it, learns from agents' corrections, is refused when invalid (the running one kept), and shows in the trace."""

from __future__ import annotations

import io
import json
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from core.envelope import Channel, Decision, Envelope, Party
from core.model_store import ModelStore
from core.records import MessageState, StoredMessage
from core.routing_settings import RouterSettings
from core.settings import Settings, load_settings
from core.store import Store
from helpline.cli import app
from helpline.train_cli import evaluate_router, run_train
from router import text_model
from router.engine import RoutingContext, compile_router
from router.explain import explain
from router.features import features, features_of_normalised, model_text
from router.normalize import normalize
from router.text_model import InvalidModel, TextModel
from router.training import fit, fit_pipeline
from router.training_data import Example, shipped_examples, split
from tests.support.work import drain
from tests.test_pipeline import email
from workers.live_router import LiveRouter
from workers.triage import desk_history, shipped_model

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "settings.toml"
runner = CliRunner()


@pytest.fixture(scope="module")
def router_settings() -> RouterSettings:
    return load_settings(SETTINGS).router


@pytest.fixture(scope="module")
def data(router_settings: RouterSettings) -> tuple[list[Example], list[Example]]:
    return split(shipped_examples(list(router_settings.categories)))


def small_training(training: list[Example]) -> list[Example]:
    """A fast run: every Chinese example and one English example in eight (seconds, not tens of seconds)."""
    english = [e for e in training if e.language == "en"]
    return [e for e in training if e.language == "zh"] + english[::8]


@pytest.fixture(scope="module")
def small_model(data: tuple[list[Example], list[Example]]) -> TextModel:
    return fit(small_training(data[0]))


def set_decision(decision: Decision, message: StoredMessage) -> None:
    message.decision = decision


def envelope(text: str, language: str = "en") -> Envelope:
    return Envelope(channel=Channel.EMAIL, provider_id="p", sender=Party(address="a@example.com"), text=text,
                    language=language)  # fmt: skip


# ---- quality --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["shipped", "small run"])
def test_the_model_beats_the_keywords_on_held_out_examples_in_both_languages(
    which: str,
    router_settings: RouterSettings,
    data: tuple[list[Example], list[Example]],
    small_model: TextModel,
) -> None:
    model = shipped_model() if which == "shipped" else small_model
    assert model is not None
    held_out = data[1]
    keywords_only = router_settings.model_copy(
        update={"triage": router_settings.triage.model_copy(update={"enabled": False})}
    )
    keywords = evaluate_router("keywords", compile_router(keywords_only, validated=True), held_out)
    learned = evaluate_router("model", compile_router(router_settings, validated=True, model=model), held_out)
    for language in ("en", "zh"):
        assert learned.count(language) > 100
        assert learned.accuracy(language) > keywords.accuracy(language) + 0.03, language
    assert not {e.text for e in held_out} & {e.text for e in data[0]}  # never trained on


def test_exported_scoring_matches_scikit_learn(data: tuple[list[Example], list[Example]]) -> None:
    training = [e for e in data[0] if e.language == "zh"]
    vectorizer, classifier = fit_pipeline(training)
    model = TextModel.from_bytes(fit(training, version="t").to_bytes())
    texts = [*[e.text for e in data[1] if e.language == "zh"][:40], "I lost my card", "完全没见过的字"]
    expected = classifier.predict_proba(vectorizer.transform(texts))
    ours = np.array([model.probabilities(text) for text in texts])
    assert list(classifier.classes_) == model.categories
    assert np.allclose(ours, expected, atol=1e-4)


def test_scoring_finds_every_feature_of_the_training_analyzer_and_remembers_scores_within_its_bound(
    data: tuple[list[Example], list[Example]], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = shipped_model()
    assert model is not None
    texts = [e.text for e in data[1][:300]] + ["refund refund refund my card card", "充值充值 没到账 top up 失败"]
    for text in texts:  # the remembered tokens (words, pairs across tokens, n-grams) give the analyzer's multiset
        clean = model_text(text)
        expected = Counter(i for f in features_of_normalised(clean) if (i := model._index.get(f)) is not None)
        assert Counter(model._found(clean)) == expected
    monkeypatch.setattr(text_model, "SCORE_CACHE", 50)
    fresh = TextModel.from_bytes(model.to_bytes())
    for text in texts:
        remembered = fresh.score_normalised(normalize(text))
        assert remembered == fresh.score_clean(model_text(text))
        assert fresh.score_normalised(normalize(text)) is remembered
        assert len(fresh._scored) <= 50


def test_scoring_in_batches_equals_scoring_one_at_a_time_in_both_languages(
    data: tuple[list[Example], list[Example]], router_settings: RouterSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = shipped_model()
    assert model is not None
    english = [e.text for e in data[1] if e.language == "en"][:120]
    chinese = [e.text for e in data[1] if e.language == "zh"][:120]
    texts = [text for pair in zip(english, chinese, strict=True) for text in pair]
    texts += ["", "1234 !!!", "refund refund refund my card card", "充值充值 没到账 top up 失败", "我的card被鎖了 help"]
    cleans = [model_text(text) for text in texts]
    monkeypatch.setattr(text_model, "KERNEL_BATCH", 7)  # batches that end mid-sample, and a last one part full
    batch = TextModel.from_bytes(model.to_bytes()).score_many_clean(cleans)
    alone = TextModel.from_bytes(model.to_bytes())
    assert batch == [alone.score_clean(clean) for clean in cleans]  # the same floats, not merely close
    assert sum(1 for s in batch if len(s.weighing) == 5) > 200 and batch[-5].weighing == ()
    for clean, scored in zip(cleans, batch, strict=True):  # the weighing: a plain stable sort of the contributions
        counts = Counter(model._found(clean))
        if not counts:
            continue
        tf = 1 + np.log(np.array(list(counts.values()), dtype=np.float64))
        weights = model.idf[list(counts)].astype(np.float64) * tf
        top = model.categories.index(scored.category)
        contributions = model.coef[list(counts), top].astype(np.float64) * weights / np.linalg.norm(weights)
        heaviest = [j for j in np.argsort(-contributions, kind="stable")[:5] if contributions[j] > 0]
        assert [f for f, _ in scored.weighing] == [model._readable[list(counts)[j]] for j in heaviest]
        assert [w for _, w in scored.weighing] == pytest.approx([contributions[j] for j in heaviest], abs=2e-3)

    router = compile_router(router_settings, validated=True, model=TextModel.from_bytes(model.to_bytes()))
    one_by_one = compile_router(router_settings, validated=True, model=TextModel.from_bytes(model.to_bytes()))
    context = RoutingContext(now=datetime(2026, 1, 5, 9, tzinfo=UTC))
    messages = [envelope(text, "zh" if i % 2 else "en") for i, text in enumerate(texts)]
    messages[3] = messages[3].model_copy(update={"chosen_category": "refund"})  # chosen: not scored
    decided = router.decide_many([(message, context) for message in messages])
    assert decided == [one_by_one.decide(message, context) for message in messages]
    assert decided[3].category == "refund" and {d.category for d in decided} >= {"cards", "top_up"}


def test_the_kernel_counts_each_texts_features_in_the_order_they_first_occur(
    data: tuple[list[Example], list[Example]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_entries` (a table of first places, no sort) gives what a `Counter` of each text's features gives, text by
    text: the features in the order they first occur, with their counts; also when the table bounds the batch."""
    model = shipped_model()
    assert model is not None
    texts = [e.text for e in data[1][:150]] + ["", "refund refund refund my card card", "充值充值 没到账 top up 失败"]
    cleans = [model_text(text) for text in texts]
    found = [model._found(clean) for clean in cleans]
    ids = np.array([i for f in found for i in f], dtype=np.int64)
    of_text, cols, tf = model._entries(ids, [len(f) for f in found])
    expected = [(t, feature, count) for t, f in enumerate(found) for feature, count in Counter(f).items()]
    assert list(zip(of_text.tolist(), cols.tolist(), tf.tolist(), strict=True)) == expected
    assert max(Counter(f).most_common(1)[0][1] for f in found if f) > 1  # repeats were counted
    batch = model.score_many_clean(cleans)
    monkeypatch.setattr(text_model, "TABLE_ENTRIES", 3 * len(model.vocabulary))  # three texts a pass
    assert TextModel.from_bytes(model.to_bytes()).score_many_clean(cleans) == batch


def test_digits_are_one_feature_and_rare_features_are_dropped(small_model: TextModel) -> None:
    assert model_text("code 483920 sent on 12/03") == "code 0 sent on 0/0"
    assert "w:0" in features("pay 100 yuan")
    assert not any(any(ch.isdigit() and ch != "0" for ch in f) for f in small_model.vocabulary)
    assert not any("casanueva" in f for f in small_model.vocabulary)


# ---- the trace ------------------------------------------------------------------------------------------------------


def test_the_trace_shows_the_top_three_categories_and_the_weighing_features(router_settings: RouterSettings) -> None:
    router = compile_router(router_settings, validated=True, model=shipped_model())
    decision = router.decide(envelope("my card payment at the supermarket was declined"), RoutingContext())
    classify = next(e for e in decision.trace if e["step"] == "classify")
    assert classify["category"] == decision.category == "payment"
    top = classify["model"]["top"]
    assert len(top) == 3 and top[0][0] == "payment" and top[0][1] > top[1][1] >= top[2][1]
    assert classify["model"]["weighing"] and all(weight > 0 for _, weight in classify["model"]["weighing"])
    assert decision.review is None
    text = explain(StoredMessage(id="m-1", envelope=envelope("x"), state=MessageState.ROUTED, decision=decision))
    assert "model " in text and "top payment" in text and "weighed most" in text


def test_an_unsure_model_leaves_the_keywords_or_the_default_and_flags_for_review(
    router_settings: RouterSettings,
) -> None:
    router = compile_router(router_settings, validated=True, model=shipped_model())
    decision = router.decide(envelope("hmm"), RoutingContext())
    assert decision.category == router_settings.default_category
    assert decision.review is not None and "unsure" in decision.review
    confident = router.decide(envelope("我的卡被盗刷了", "zh"), RoutingContext())
    assert (confident.category, confident.review) == ("security", None)


# ---- learning from the desk -----------------------------------------------------------------------------------------

# The desk decides loyalty points are the account team's (the shipped data files them nowhere in particular).
POINTS = ["我的积分不见了", "积分怎么查不到", "积分被清零了", "积分没有到账户里", "积分过期了吗"]
PROBE = "我的积分去哪了"


def test_a_recorded_correction_changes_the_next_trainings_decision(
    settings: Settings,
    store: Store,
    data: tuple[list[Example], list[Example]],
    small_model: TextModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HELPLINE_REDIS__URL", str(settings.redis.url))
    monkeypatch.setenv("HELPLINE_DATABASE__URL", str(settings.database.url))  # cases are found in the record
    base = small_training(data[0])
    before = compile_router(settings.router, validated=True, model=small_model).classify_text(PROBE)
    assert before != "account"
    accepted = [
        store.accept(email(f"p{i}@example.com", text, sender=f"p{i}@example.com", subject="", language="zh"), b"")
        for i, text in enumerate(POINTS)
    ]
    drain(settings)  # routed and filed: each message opens a case
    for message_id in (a.message_id for a in accepted):
        result = runner.invoke(
            app, ["agent", "recategorize", message_id, "account", "--reason", "points are the account team's",
                  "--as", "ann", "--settings", str(SETTINGS)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert store.get_message(message_id).decision.category == "account"  # type: ignore[union-attr]
    history = desk_history(store, settings.router)
    assert [(e.source, e.category) for e in history] == [("correction", "account")] * len(POINTS)
    after = compile_router(settings.router, validated=True, model=fit(base + history)).classify_text(PROBE)
    assert after == "account"


def test_recategorize_refuses_an_unknown_category(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_REDIS__URL", str(settings.redis.url))
    message_id = store.accept(envelope("hello"), b"").message_id
    result = runner.invoke(
        app, ["agent", "recategorize", message_id, "nonsense", "--reason", "x", "--settings", str(SETTINGS)]
    )
    assert result.exit_code == 1 and "unknown category 'nonsense'" in result.output  # checked before any lookup


# ---- invalid models -------------------------------------------------------------------------------------------------


def corrupt(model: TextModel, **arrays: object) -> bytes:
    buffer = io.BytesIO(model.to_bytes())
    with np.load(buffer, allow_pickle=False) as archive:
        parts = {name: archive[name] for name in archive.files}
    parts.update(arrays)
    out = io.BytesIO()
    np.savez(out, **parts)
    return out.getvalue()


def test_invalid_model_files_are_refused_with_the_reason(small_model: TextModel) -> None:
    header = small_model.header()
    cases = {
        b"not a model": "not a model archive",
        corrupt(small_model, coef=small_model.coef[:-1]): "coef has shape",
        corrupt(small_model, idf=np.full(len(small_model.vocabulary), np.nan, dtype=np.float32)): "finite",
        corrupt(small_model, header=np.array(json.dumps({**header, "features_version": 99}))): "features version",
        corrupt(small_model, vocabulary=np.array([{"a": 1}], dtype=object)): "not a model archive",
    }
    for blob, reason in cases.items():
        with pytest.raises(InvalidModel, match=reason):
            TextModel.from_bytes(blob)


def test_a_worker_picks_up_a_new_model_and_keeps_the_old_one_when_the_new_one_is_invalid(
    store: Store, small_model: TextModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text(SETTINGS.read_text(encoding="utf-8"), encoding="utf-8")
    live = LiveRouter.from_file(settings_file, store=store)
    assert live.model is not None and live.model.version == shipped_model().version  # type: ignore[union-attr]
    models = ModelStore(store)
    models.publish(small_model.version, small_model.to_bytes())
    assert live.reload_model() is True
    assert live.current().model is small_model or live.current().model.version == small_model.version  # type: ignore[union-attr]
    running = live.current()
    models.publish("broken", b"PK\x03\x04 not really")
    with caplog.at_level(logging.ERROR, logger="helpline.router"):
        assert live.reload_model() is False
    assert live.current() is running and "keeping model" in caplog.text
    assert live.reload_model() is False  # a refused version is not retried on every poll
    models.use(small_model.version)
    assert live.reload_model() is False  # already running it
    assert live.reload() is True  # new rules keep the running model
    assert live.current().model is running.model
    live.stop()


def test_route_replay_with_a_new_model_shows_what_it_would_move(
    settings: Settings, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_REDIS__URL", str(settings.redis.url))
    keywords = compile_router(settings.router)
    for i, text in enumerate(["I can't see the money my friend sent", "充值", "my card payment was declined"]):
        message_id = store.accept(envelope(text).model_copy(update={"provider_id": f"r{i}"}), b"").message_id
        decision = keywords.decide(envelope(text))
        store.update_message(message_id, partial(set_decision, decision))
    model_file = tmp_path / "new.npz"
    model_file.write_bytes(shipped_model().to_bytes())  # type: ignore[union-attr]
    result = runner.invoke(app, ["route", "--settings", str(SETTINGS), "--replay", "--model", str(model_file)])
    assert result.exit_code == 0, result.output
    assert "3 routed" in result.stdout and "would move" in result.stdout
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"junk")
    refused = runner.invoke(app, ["route", "--settings", str(SETTINGS), "--replay", "--model", str(bad)])
    assert refused.exit_code == 2 and "bad.npz" in refused.stderr


def test_train_publishes_a_model_that_a_running_worker_picks_up(
    settings: Settings, store: Store, data: tuple[list[Example], list[Example]], tmp_path: Path
) -> None:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text(SETTINGS.read_text(encoding="utf-8"), encoding="utf-8")
    live = LiveRouter.from_file(settings_file, store=store)
    live.watch_model(interval=0.05)
    shipped = [e for e in data[0] + data[1] if e.language == "zh"] + (data[0] + data[1])[::10]
    out, err = io.StringIO(), io.StringIO()
    code = run_train(settings, shipped_only=False, dry_run=False, out=None, stdout=out, stderr=err, shipped=shipped)
    assert code == 0, err.getvalue()
    report = out.getvalue()
    assert "desk history: 0 corrections" in report
    assert "keywords" in report and "current" in report and "new alone" in report
    assert "confusion, new, zh" in report and "published model" in report
    version = ModelStore(store).current_version()
    assert version is not None and version in report
    deadline = time.monotonic() + 10
    while live.current().model.version != version and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.02)
    assert live.current().model.version == version  # type: ignore[union-attr]
    live.stop()
