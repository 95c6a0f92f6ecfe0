"""The agents' side: take the next item, answer it through the customer's channel, then the survey."""

from __future__ import annotations

import pytest

from core.envelope import Priority
from core.records import ReplyState
from core.settings import Settings
from core.store import Store
from desk.cases import answer, resolve, take_next
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from tests.test_pipeline import email
from workers.context import context_for
from workers.eta import takes


def test_agent_takes_the_most_urgent_item_answers_and_the_customer_is_surveyed(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    ctx = context_for(settings, store)
    routine = store.accept(email("q1@example.com", "I have a question about fees and exchange rate"), b"raw")
    urgent = store.accept(email("q2@example.com", "Fraud! someone stole my card", sender="bob@example.com"), b"raw")
    drain(settings)
    acks = len(smtp_sink.wait_for(2))

    security = store.get_message(urgent.message_id)
    assert security is not None and security.decision is not None
    taken = take_next(ctx, security.decision.queue, "mei")
    assert taken is not None and taken.message.id == urgent.message_id and taken.case.id == security.conversation_id
    assert security.decision.priority is Priority.URGENT
    assert any("taken by mei" in note for note in taken.message.notes)
    assert take_next(ctx, security.decision.queue, "mei") is None
    assert store.get_message(routine.message_id) is not None

    case = security.conversation_id or ""
    reply = answer(ctx, case, "We have blocked your card and opened a dispute.", "mei").reply
    drain(settings)
    sent = smtp_sink.wait_for(acks + 1)[acks].message
    assert sent["In-Reply-To"] == "<q2@example.com>"
    assert sent["Auto-Submitted"] is None  # a person's answer, not an automatic reply
    assert "blocked your card" in sent.get_content()
    assert store.get_reply(reply.id).state is ReplyState.SENT  # type: ignore[union-attr]

    answer(ctx, case, "One more thing.", "mei")
    drain(settings, include_scheduled=True)
    surveyed = [m for m in smtp_sink.messages if "How did we do?" in str(m.message["Subject"])]
    assert surveyed == []  # answers ask nothing: the survey waits for the case to be resolved
    resolve(ctx, case, "mei")
    drain(settings, include_scheduled=True)
    surveys = [m for m in smtp_sink.messages if "How did we do?" in str(m.message["Subject"])]
    assert len(surveys) == 1
    assert surveys[0].message["Auto-Submitted"] == "auto-replied"


def test_taking_work_feeds_the_queue_throughput(store: Store, settings: Settings) -> None:
    from datetime import UTC, datetime, timedelta

    ctx = context_for(settings, store)
    accepted = store.accept(email("t@example.com", "my top-up failed"), b"raw")
    drain(settings)
    message = store.get_message(accepted.message_id)
    assert message is not None and message.decision is not None
    take_next(ctx, message.decision.queue, "ann")
    now = datetime.now(UTC)
    assert takes(store, message.decision.queue, now - timedelta(minutes=1), now + timedelta(minutes=1)) == 1


def test_answering_an_unknown_message_is_a_clear_error(store: Store, settings: Settings) -> None:
    with pytest.raises(LookupError, match="no case t-nope"):
        answer(context_for(settings, store), "t-nope", "hello", "ann")


def test_agent_cli_takes_and_answers(
    store: Store, settings: Settings, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from helpline.cli import app
    from tests.conftest import ROOT

    monkeypatch.setenv("HELPLINE_REDIS__URL", str(settings.redis.url))
    monkeypatch.setenv("HELPLINE_DATABASE__URL", str(settings.database.url))  # where expired messages are read
    monkeypatch.setenv("HELPLINE_EMAIL__OUTBOUND__PORT", str(smtp_sink.port))
    shipped = ["--settings", str(ROOT / "settings.toml")]
    runner = CliRunner()
    assert runner.invoke(app, ["agent", "next", "payments", *shipped]).exit_code == 3  # nothing waiting

    accepted = store.accept(email("cli@example.com", "my top-up failed"), b"raw")
    drain(settings)
    queue = store.get_message(accepted.message_id).decision.queue  # type: ignore[union-attr]
    taken = runner.invoke(app, ["agent", "next", queue, "--as", "li", *shipped])
    assert taken.exit_code == 0, taken.output
    assert json.loads(taken.output)["messages"][0]["id"] == accepted.message_id

    answered = runner.invoke(app, ["agent", "answer", accepted.message_id, "--text", "Refunded.", *shipped])
    assert answered.exit_code == 0 and "queued to alice@example.com by email" in answered.output
    missing = runner.invoke(app, ["agent", "answer", "m-nope", "--text", "x", *shipped])
    assert missing.exit_code == 1 and "no case matches 'm-nope'" in missing.output
