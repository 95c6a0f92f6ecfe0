"""The survey's web page over real HTTP (uvicorn, Redis, PostgreSQL, the SMTP sink): the link in the survey, the
question in the survey's language, one score recorded once, and 4xx pages (never a 500) for links that are not
ours or have expired. And the signed tokens themselves (core/survey_link.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from core.envelope import Channel
from core.settings import Settings
from core.store import Store
from core.survey_link import BadToken, ExpiredToken, SurveyToken, sign, verify
from record.engine import engine_for
from record.models import SurveyScore
from tests.support.smtp_sink import SmtpSink
from tests.support.web_server import WebServer
from tests.support.work import drain
from tests.test_pipeline import email
from tests.test_survey import answered_and_resolved
from web.app import create_app

SECRET = "survey-secret-for-tests"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def with_links(settings: Settings) -> Settings:
    web = settings.web.model_copy(update={"public_url": "https://support.example", "survey_secret": SecretStr(SECRET)})
    replies = settings.replies.model_copy(update={"survey_link_channels": [Channel.EMAIL]})
    return settings.model_copy(update={"web": web, "replies": replies})


@pytest.fixture
def linked(store: Store, settings: Settings) -> Settings:
    return with_links(settings)


@pytest.fixture
def server(store: Store, linked: Settings) -> Iterator[str]:
    running = WebServer(create_app(linked, store)).start()
    yield running.url
    running.stop()


def survey_link(store: Store, linked: Settings, smtp_sink: SmtpSink, language: str = "en") -> tuple[str, str]:
    """A resolved case whose survey carries a link: (the link's path, the case)."""
    accepted = store.accept(email(f"page-{language}@example.com", "My top-up failed", language=language), b"raw")
    drain(linked)
    conversation = answered_and_resolved(store, linked, accepted.message_id)
    (survey,) = [m.message for m in smtp_sink.messages if "/survey/" in m.message.get_content()]
    link = re.search(r"https://support\.example(/survey/\S+)", survey.get_content())
    assert link is not None
    return link.group(1), conversation


def scores(linked: Settings) -> list[tuple[str, int, str | None]]:
    assert linked.database.url is not None
    engine = engine_for(linked.database.url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(SurveyScore.conversation_id, SurveyScore.score, SurveyScore.comment))
            return [(row.conversation_id, row.score, row.comment) for row in rows]
    finally:
        engine.dispose()


def test_the_page_asks_once_and_records_one_score(
    store: Store, linked: Settings, smtp_sink: SmtpSink, server: str
) -> None:
    path, conversation = survey_link(store, linked, smtp_sink)
    question = httpx.get(server + path)
    assert question.status_code == 200 and "How satisfied are you" in question.text
    assert question.text.count('name="score"') == 5
    assert question.headers["referrer-policy"] == "no-referrer" and question.headers["cache-control"] == "no-store"

    assert httpx.post(server + path, data={"score": "7"}).status_code == 400  # not a rating: asked again
    assert httpx.post(server + path, content=b"score=" + b"5" * 5000).status_code == 400
    recorded = httpx.post(server + path, data={"score": "4"})
    assert recorded.status_code == 200 and "Thank you" in recorded.text
    again = httpx.post(server + path, data={"score": "1"})
    assert again.status_code == 409 and "rated already" in again.text
    drain(linked)
    assert scores(linked) == [(conversation, 4, None)]
    assert "rated already" in httpx.get(server + path).text


def test_the_page_speaks_the_surveys_language(store: Store, linked: Settings, smtp_sink: SmtpSink, server: str) -> None:
    path, _ = survey_link(store, linked, smtp_sink, language="zh")
    page = httpx.get(server + path)
    assert page.status_code == 200 and "您对本次服务满意吗" in page.text and "lang='zh'" in page.text


@pytest.mark.parametrize(
    "token",
    ["x", "a.", ".b", "abc.def", "eyJjIjoidC0xIn0.AAAA", "%00%ff", "a" * 3000, "a.b.c", "é.é"],
)
def test_a_link_that_is_not_ours_is_a_404_page(server: str, token: str) -> None:
    for response in (httpx.get(f"{server}/survey/{token}"), httpx.post(f"{server}/survey/{token}", data={"score": 5})):
        assert response.status_code == 404 and "not valid" in response.text


def test_an_altered_or_expired_link_is_refused(
    store: Store, linked: Settings, smtp_sink: SmtpSink, server: str
) -> None:
    path, conversation = survey_link(store, linked, smtp_sink)
    signature = path.removeprefix("/survey/").split(".")[1]
    other = sign(SECRET, SurveyToken("t-someone-else", "r-survey-x", "en", datetime.now(UTC) + timedelta(days=1)))
    forged = f"{other.split('.')[0]}.{signature}"  # another case's payload under this link's signature
    assert httpx.post(f"{server}/survey/{forged}", data={"score": "1"}).status_code == 404
    unknown = httpx.post(f"{server}/survey/{other}", data={"score": "1"})  # ours, but no such survey was sent
    assert unknown.status_code == 404
    expired = sign(
        SECRET, SurveyToken(conversation, f"r-survey-{conversation}", "en", datetime.now(UTC) - timedelta(1))
    )
    for response in (
        httpx.get(f"{server}/survey/{expired}"),
        httpx.post(f"{server}/survey/{expired}", data={"score": 5}),
    ):
        assert response.status_code == 410 and "expired" in response.text
    drain(linked)
    assert scores(linked) == []


def test_without_a_secret_no_link_is_sent_and_the_page_knows_no_token(
    store: Store, settings: Settings, smtp_sink: SmtpSink
) -> None:
    accepted = store.accept(email("nolink@example.com", "My top-up failed"), b"raw")
    drain(settings)
    answered_and_resolved(store, settings, accepted.message_id)
    assert not [m for m in smtp_sink.messages if "/survey/" in m.message.get_content()]
    running = WebServer(create_app(settings, store)).start()
    try:
        token = sign(SECRET, SurveyToken("t-1", "r-1", "en", datetime.now(UTC) + timedelta(days=1)))
        assert httpx.get(f"{running.url}/survey/{token}").status_code == 404
    finally:
        running.stop()


def test_tokens_are_signed_and_expire() -> None:
    token = SurveyToken("t-abc", "r-survey-m-1", "zh", T0 + timedelta(hours=72))
    signed = sign(SECRET, token)
    assert verify(SECRET, signed, T0) == token
    with pytest.raises(ExpiredToken):
        verify(SECRET, signed, T0 + timedelta(hours=72))
    with pytest.raises(BadToken):
        verify("another secret", signed, T0)
    payload, signature = signed.split(".")
    for broken in (f"{payload}x.{signature}", f"{payload}.{signature[:-1]}", payload, f".{signature}", ""):
        with pytest.raises(BadToken):
            verify(SECRET, broken, T0)
    # A payload we signed that is not JSON, or lacks a field: still just a bad token, not a crash.
    from core.survey_link import _b64, _signature

    for junk in (_b64(b"not json"), _b64(b'{"c": "t-1"}'), _b64(b'{"c":1,"r":2,"l":3,"e":"soon"}')):
        with pytest.raises(BadToken):
            verify(SECRET, f"{junk}.{_signature(SECRET, junk)}", T0)
