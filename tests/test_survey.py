"""The satisfaction survey end to end, on the real Redis, PostgreSQL and SMTP: asked once when a case is resolved,
in the customer's language; a rating within the window is the case's score (no reopen, no acknowledgement, not
filed); a low score with a comment flags the case; anything else is a message like any other."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from core.case_flags import Flag, flagged
from core.envelope import Channel, Envelope, Party
from core.inbox import Inbox
from core.records import MessageState, utcnow
from core.settings import Settings
from core.store import Store
from core.surveys import Surveys
from desk.cases import answer, reopen, resolve, take_next
from ingest.email.smtp_server import controller
from record.engine import engine_for
from record.models import Conversation, SurveyScore
from tests.mail_factory import raw_email
from tests.support.ports import free_port
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from tests.test_pipeline import email
from workers.context import context_for

SURVEY_SUBJECTS = ("How did we do?", "请评价我们的服务")


@pytest.fixture
def record(settings: Settings) -> Iterator[Engine]:
    assert settings.database.url is not None
    engine = engine_for(settings.database.url)
    yield engine
    engine.dispose()


@pytest.fixture
def smtp_port(settings: Settings, store: Store) -> Iterator[int]:
    port = free_port()
    server = controller(settings, store, port=port)
    server.start()
    yield port
    server.stop()


def surveys_sent(sink: SmtpSink) -> list[str]:
    return [str(m.message["Subject"]) for m in sink.messages if str(m.message["Subject"]).startswith(SURVEY_SUBJECTS)]


def answered_and_resolved(store: Store, settings: Settings, message_id: str) -> str:
    """An agent takes the case, answers and resolves it; the survey's delay passes. Returns the case."""
    ctx = context_for(settings, store)
    message = store.get_message(message_id)
    assert message is not None and message.decision is not None and message.conversation_id is not None
    assert take_next(ctx, message.decision.queue, "mei") is not None
    answer(ctx, message.conversation_id, "Your top-up has been credited.", "mei")
    resolve(ctx, message.conversation_id, "mei")
    drain(settings, include_scheduled=True)
    return message.conversation_id


def survey_message_id(store: Store, message_id: str) -> str:
    survey = store.get_reply(f"r-survey-{message_id}")
    assert survey is not None
    return survey.headers["Message-ID"]


def scores(record: Engine) -> list[tuple[str, int, str | None]]:
    with record.connect() as connection:
        rows = connection.execute(select(SurveyScore.conversation_id, SurveyScore.score, SurveyScore.comment))
        return [(row.conversation_id, row.score, row.comment) for row in rows]


def test_over_smtp_the_survey_goes_at_resolve_and_a_5_is_recorded_without_reopening_or_an_ack(
    smtp_port: int, store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine
) -> None:
    first = raw_email("My top-up failed and the money is gone.", message_id="<e2e-1@example.com>")
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        client.sendmail("alice@example.com", ["support@wallet.example"], first)
    drain(settings)
    (message_id,) = store.message_ids()
    assert len(smtp_sink.wait_for(1)) == 1  # the acknowledgement

    ctx = context_for(settings, store)
    message = store.get_message(message_id)
    assert message is not None and message.decision is not None and message.conversation_id is not None
    take_next(ctx, message.decision.queue, "mei")
    answer(ctx, message.conversation_id, "Your top-up has been credited.", "mei")
    drain(settings, include_scheduled=True)
    assert len(smtp_sink.wait_for(2)) == 2 and surveys_sent(smtp_sink) == []  # an answer asks nothing

    resolve(ctx, message.conversation_id, "mei")
    drain(settings, include_scheduled=True)
    smtp_sink.wait_for(3)
    (survey,) = surveys_sent(smtp_sink)
    assert survey.startswith("How did we do? [HL-")
    survey_id = survey_message_id(store, message_id)

    threading = {"In-Reply-To": survey_id, "References": f"<e2e-1@example.com> {survey_id}"}
    rating = raw_email("5", subject="Re: How did we do?", message_id="<e2e-2@example.com>", headers=threading)
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        client.sendmail("alice@example.com", ["support@wallet.example"], rating)
    drain(settings, include_scheduled=True)

    conversation = message.conversation_id
    assert conversation is not None
    assert [s[:2] for s in scores(record)] == [(conversation, 5)] and scores(record)[0][2] is None
    (answer_id,) = [m for m in store.message_ids() if m != message_id]
    stored = store.get_message(answer_id)
    assert stored is not None and stored.state is MessageState.DROPPED
    assert stored.drop_reason == f"survey answer 5/5 for case {conversation}"
    assert len(smtp_sink.messages) == 3  # no acknowledgement of the rating
    assert take_next(ctx, message.decision.queue, "mei") is None  # not filed for agents
    assert Inbox(store).times(conversation).resolved_at is not None
    assert store.conversation(conversation)["messages"] == [message_id]  # it joined nothing: nothing reopened
    with record.connect() as connection:
        assert connection.scalar(select(Conversation.status).where(Conversation.id == conversation)) == "resolved"
    assert flagged(store) == []


def test_the_survey_is_in_the_customers_language_and_goes_once_per_case(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    chinese = email("zh-1@example.com", "我的充值没到账，请帮忙查一下", subject="充值问题", language="zh")
    accepted = store.accept(chinese, b"raw")
    drain(settings)
    answered_and_resolved(store, settings, accepted.message_id)
    assert len(surveys_sent(smtp_sink)) == 1 and surveys_sent(smtp_sink)[0].startswith("请评价我们的服务")

    message = store.get_message(accepted.message_id)
    assert message is not None and message.conversation_id is not None
    from workers.survey import schedule_survey

    # Resolved again (reopened by the cases' lifecycle): the case had its survey.
    assert schedule_survey(context_for(settings, store), message) is False
    drain(settings, include_scheduled=True)
    assert len(surveys_sent(smtp_sink)) == 1


def test_a_case_reopened_before_its_survey_went_is_asked_at_its_next_resolution(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    accepted = store.accept(email("ro-1@example.com", "My refund never arrived"), b"raw")
    drain(settings)
    ctx = context_for(settings, store)
    message = store.get_message(accepted.message_id)
    assert message is not None and message.decision is not None and message.conversation_id is not None
    case = message.conversation_id
    assert take_next(ctx, message.decision.queue, "mei") is not None
    answer(ctx, case, "The refund is on its way.", "mei")
    resolve(ctx, case, "mei")
    reopen(ctx, case, "mei")  # the customer calls back before the survey's delay has passed
    drain(settings, include_scheduled=True)
    assert surveys_sent(smtp_sink) == []  # a case open again is not asked to be rated
    assert take_next(ctx, message.decision.queue, "mei") is not None
    answer(ctx, case, "Credited now.", "mei")
    resolve(ctx, case, "mei")
    drain(settings, include_scheduled=True)
    assert len(surveys_sent(smtp_sink)) == 1  # asked once, at the resolution that stood


def rated(
    store: Store, settings: Settings, message_id: str, text: str, provider_id: str, *,
    sender: str = "alice@example.com", received_at: datetime | None = None,
) -> str:  # fmt: skip
    """The customer answers the survey of `message_id`'s case with `text`; returns the new message's id."""
    survey_id = survey_message_id(store, message_id)
    envelope = email(provider_id, text, sender=sender, in_reply_to=survey_id, received_at=received_at or utcnow())
    accepted = store.accept(envelope, b"raw")
    drain(settings, include_scheduled=True)
    return accepted.message_id


@pytest.fixture
def surveyed(store: Store, settings: Settings, smtp_sink: SmtpSink) -> tuple[str, str]:
    """A resolved and surveyed email case: (its first message, the case)."""
    accepted = store.accept(email("case-1@example.com", "My top-up failed and the money is gone."), b"raw")
    drain(settings)
    conversation = answered_and_resolved(store, settings, accepted.message_id)
    assert len(surveys_sent(smtp_sink)) == 1
    return accepted.message_id, conversation


def test_a_low_score_with_a_comment_flags_the_case_for_a_supervisor(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine, surveyed: tuple[str, str]
) -> None:
    message_id, conversation = surveyed
    sent = len(smtp_sink.messages)
    rated(store, settings, message_id, "1, nobody read what I wrote", "low-1@example.com")
    assert scores(record) == [(conversation, 1, "nobody read what I wrote")]
    assert [(f.conversation_id, f.kind) for f in flagged(store)] == [(conversation, Flag.LOW_SCORE)]
    with record.connect() as connection:
        assert connection.scalar(select(Conversation.flags).where(Conversation.id == conversation)) == ["low_score"]
    assert len(smtp_sink.messages) == sent

    # What a supervisor reads: `helpline flagged`, then --clear once seen to.
    from typer.testing import CliRunner

    from helpline.cli import app
    from tests.conftest import ROOT

    runner, shipped = CliRunner(), ["--settings", str(ROOT / "settings.toml")]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HELPLINE_REDIS__URL", str(settings.redis.url))
        listed = runner.invoke(app, ["flagged", *shipped])
        assert listed.exit_code == 0 and "low_score    HL-" in listed.output and conversation in listed.output
        assert runner.invoke(app, ["flagged", "--clear", conversation, *shipped]).exit_code == 2  # which flag?
        cleared = runner.invoke(app, ["flagged", "--clear", conversation, "--kind", "low_score", *shipped])
        assert cleared.exit_code == 0 and flagged(store) == []
        assert runner.invoke(app, ["flagged", *shipped]).output.strip() == "no flagged cases"


def test_a_low_score_without_a_comment_is_recorded_but_not_flagged(
    store: Store, settings: Settings, record: Engine, surveyed: tuple[str, str]
) -> None:
    message_id, conversation = surveyed
    rated(store, settings, message_id, "👎", "low-2@example.com")
    assert scores(record) == [(conversation, 1, None)] and flagged(store) == []


def test_a_second_rating_is_dropped_and_the_first_one_counts(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine, surveyed: tuple[str, str]
) -> None:
    message_id, conversation = surveyed
    sent = len(smtp_sink.messages)
    rated(store, settings, message_id, "非常满意", "twice-1@example.com")
    again = rated(store, settings, message_id, "2, on second thoughts it was slow", "twice-2@example.com")
    assert scores(record) == [(conversation, 5, None)] and flagged(store) == []
    second = store.get_message(again)
    assert second is not None and second.state is MessageState.DROPPED and "rated already" in (second.drop_reason or "")
    assert len(smtp_sink.messages) == sent


def test_a_message_that_is_no_rating_is_handled_as_usual(
    store: Store, settings: Settings, smtp_sink: SmtpSink, record: Engine, surveyed: tuple[str, str]
) -> None:
    message_id, _ = surveyed
    sent = len(smtp_sink.messages)
    follow_up = rated(store, settings, message_id, "5 dollars are still missing from my account", "more-1@example.com")
    stored = store.get_message(follow_up)
    assert stored is not None and stored.state is MessageState.ROUTED and stored.ack_status == "sent"
    assert scores(record) == [] and len(smtp_sink.wait_for(sent + 1)) == sent + 1


def test_a_rating_after_the_survey_window_is_a_message_like_any_other(
    store: Store, settings: Settings, record: Engine, surveyed: tuple[str, str]
) -> None:
    message_id, conversation = surveyed
    survey = Surveys(store).sent(conversation)
    assert survey is not None
    late = survey.sent_at + timedelta(hours=settings.replies.survey_window_hours, minutes=1)
    follow_up = rated(store, settings, message_id, "5", "late-1@example.com", received_at=late)
    stored = store.get_message(follow_up)
    assert stored is not None and stored.state is MessageState.ROUTED and scores(record) == []


def test_a_rating_from_someone_outside_the_case_is_not_its_score(
    store: Store, settings: Settings, record: Engine, surveyed: tuple[str, str]
) -> None:
    message_id, _ = surveyed
    follow_up = rated(store, settings, message_id, "1, terrible", "other-1@example.com", sender="mallory@example.com")
    stored = store.get_message(follow_up)
    assert stored is not None and stored.state is MessageState.ROUTED and scores(record) == []


def test_on_a_channel_without_threading_the_senders_latest_surveyed_case_is_rated(
    store: Store, settings: Settings, record: Engine
) -> None:
    sms = Envelope(channel=Channel.SMS, provider_id="SM-case", sender=Party(address="+14155550100"),
                   recipient=Party(address="+15017122661"), text="my top-up failed")  # fmt: skip
    accepted = store.accept(sms, b"raw")
    drain(settings)  # no Twilio configured: the acknowledgement fails, which changes nothing here
    conversation = answered_and_resolved(store, settings, accepted.message_id)
    assert Surveys(store).sent(conversation) is not None
    rating = sms.model_copy(update={"provider_id": "SM-rating", "text": "满意，谢谢", "received_at": utcnow()})
    dropped = store.accept(rating, b"raw")
    drain(settings, include_scheduled=True)
    stored = store.get_message(dropped.message_id)
    assert stored is not None and stored.state is MessageState.DROPPED
    assert scores(record) == [(conversation, 4, "谢谢")]
