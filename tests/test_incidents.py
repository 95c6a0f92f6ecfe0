"""desk/incidents.py on the real Redis and PostgreSQL: a claim to answer held by a live supervisor refuses another;
one left by a process that died is taken over without answering any case twice; one text serves both languages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from core.inbox import Inbox, Status
from core.settings import Settings
from core.store import Store
from desk.context import desk_context
from desk.incidents import STALE_CLAIM, IncidentError, answer_incident, link_cases, open_incident, show_incident
from record import incidents as rows
from record.models import Incident
from tests.support.smtp_sink import SmtpSink
from tests.support.work import drain
from tests.test_pipeline import email


def cases(settings: Settings, store: Store, *mails: tuple[str, str, str]) -> list[str]:
    """Route emails (Message-ID, text, language); their cases."""
    envelopes = [email(mid, text, sender=mid, language=language) for mid, text, language in mails]
    accepted = [store.accept(envelope, b"raw").message_id for envelope in envelopes]
    drain(settings)
    messages = [store.get_message(message_id) for message_id in accepted]
    return [m.conversation_id for m in messages if m is not None and m.conversation_id is not None]


def test_a_stale_claim_is_taken_over_and_no_case_is_answered_twice(
    settings: Settings, store: Store, smtp_sink: SmtpSink
) -> None:
    ctx = desk_context(settings, store)
    first, second = cases(
        settings, store,
        ("st1@example.com", "My top-up failed", "en"),
        ("st2@example.com", "我的充值失败了", "zh"),
    )  # fmt: skip
    acks = len(smtp_sink.wait_for(2))
    incident = open_incident(ctx, "Top-ups", "mei").id
    assert link_cases(ctx, incident, [first, second], "mei").added == [first, second]

    # "mei" claimed the answer and stamped the first case, then her process died before anything was sent.
    now = datetime.now(UTC)
    with ctx.record.begin() as connection:
        assert rows.claim_answer(connection, incident, "mei", ("x", "x"), now, now - STALE_CLAIM)
        assert rows.claim_case(connection, incident, first, now)
    with pytest.raises(IncidentError, match="being answered by mei"):
        answer_incident(ctx, incident, "lin", text_en="Fixed.")
    with ctx.record.begin() as connection:  # her claim grows old
        connection.execute(
            update(Incident)
            .where(Incident.id == incident)
            .values(answering_since=now - STALE_CLAIM - timedelta(minutes=1))
        )

    done = answer_incident(ctx, incident, "lin", text_en="Fixed: credited.")  # one text serves both languages
    assert [(c.case_id, c.outcome, c.language) for c in done.cases] == [(second, "resolved", "zh")]
    drain(settings)
    [sent] = smtp_sink.wait_for(acks + 1)[acks:]
    assert sent.rcpt_tos == ["st2@example.com"] and "Fixed: credited." in sent.message.get_content()
    shown = show_incident(ctx, incident)
    assert shown.status == "resolved" and shown.answered_by == "lin" and shown.answer_zh == "Fixed: credited."
    outcomes = {c.case_id: (c.answered_at is not None, c.outcome) for c in shown.cases}
    assert outcomes == {first: (True, None), second: (True, "resolved")}  # stamped by mei: never answered twice
    state = Inbox(store).case(first)
    assert state is not None and state.status is Status.OPEN
    with pytest.raises(IncidentError, match="already resolved by lin"):
        answer_incident(ctx, incident, "mei", text_en="again")
    with pytest.raises(ValueError, match="needs a text"):
        answer_incident(ctx, open_incident(ctx, "Other", "mei").id, "mei", text_en="  ", text_zh=None)
    with pytest.raises(LookupError):
        answer_incident(ctx, "i-nothing", "mei", text_en="x")
