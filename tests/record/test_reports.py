"""Reports as SQL, against figures computed by hand from a small dataset. Every time is relative to one fixed
instant `T0` handed to the report: nothing reads the clock, so the figures hold on any date."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, insert
from typer.testing import CliRunner

from helpline.cli import app
from record.engine import engine_for
from record.models import Contact, Conversation, Message, Reply, SlaEvent, SurveyScore
from record.reports import ReportRange, report

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday; only ever compared with rows written below
HOUR = timedelta(hours=1)


@pytest.fixture
def record(record_url: str) -> Iterator[Engine]:
    engine = engine_for(record_url)
    with engine.begin() as connection:
        dataset(connection)
    yield engine
    engine.dispose()


def case(
    connection: Connection, number: int, queue: str, channel: str, created: datetime, category: str, *,
    first_response: float | None = None, resolved: float | None = None, state: str = "routed",
) -> None:  # fmt: skip
    conversation = f"t-{number}"
    connection.execute(
        insert(Conversation).values(
            id=conversation, reference=f"HL-{number:012x}", contact_id="c-1", channel=channel, queue=queue,
            category=category, created_at=created,
            first_response_at=created + timedelta(seconds=first_response) if first_response is not None else None,
            resolved_at=created + timedelta(seconds=resolved) if resolved is not None else None,
        )
    )  # fmt: skip
    message(connection, f"m-{number}", conversation, channel, created, queue, category, state)


def message(
    connection: Connection, id: str, conversation: str | None, channel: str, at: datetime, queue: str,
    category: str, state: str = "routed",
) -> None:  # fmt: skip
    connection.execute(
        insert(Message).values(
            id=id, channel=channel, provider_id=id, conversation_id=conversation, contact_id="c-1", state=state,
            sender="alice@example.com", received_at=at, recorded_at=at,
            decision={"queue": queue, "category": category, "priority": "normal"},
        )
    )  # fmt: skip


def dataset(connection: Connection) -> None:
    connection.execute(insert(Contact).values(id="c-1", created_at=T0 - timedelta(days=30)))
    case(connection, 1, "payments", "email", T0 + 1 * HOUR, "fees", first_response=60, resolved=3600)
    case(connection, 2, "payments", "sms", T0 + 2 * HOUR, "top_up", first_response=120, resolved=7200)
    case(connection, 3, "payments", "email", T0 + 3 * HOUR, "fees")  # first response from its answer: 300 s
    case(connection, 4, "payments", "email", T0 + 4 * HOUR, "fees", first_response=600, resolved=1800)
    case(connection, 5, "payments", "telegram", T0 + 5 * HOUR, "refund", first_response=1200)
    case(connection, 6, "security", "email", T0 + 6 * HOUR, "security")  # no response yet
    # 04:00 on 3 March in Shanghai: the same UTC day as the others, the next day at the desk.
    case(connection, 8, "payments", "sms", T0 + 20 * HOUR, "top_up")
    # Opened the day before (outside the range: no volume, no first response), resolved inside it: 25 hours.
    case(connection, 7, "payments", "email", T0 - 24 * HOUR, "fees", resolved=90000)
    message(connection, "m-loop", None, "email", T0 + 2 * HOUR, "payments", "fees", state="dropped")  # not counted
    message(connection, "m-late", "t-1", "email", T0 + 25 * HOUR, "payments", "fees")  # after the range
    for id, purpose, state, after in (
        ("r-ack", "acknowledgement", "sent", 5),
        ("r-ans", "answer", "sent", 300),
        ("r-later", "answer", "delivered", 900),
        ("r-failed", "answer", "failed", 100),
    ):
        connection.execute(
            insert(Reply).values(
                id=id, message_id="m-3", conversation_id="t-3", channel="email", to_address="alice@example.com",
                purpose=purpose, language="en", text="…", state=state,
                created_at=T0 + 3 * HOUR + timedelta(seconds=after), updated_at=T0 + 3 * HOUR,
            )
        )  # fmt: skip
    for kind, at in (("first_response_met", 1), ("first_response_met", 2), ("first_response_met", 4),
                     ("first_response_breached", 5), ("resolution_met", 2), ("resolution_breached", 4),
                     ("first_response_breached", -2), ("escalated", 5)):  # fmt: skip
        connection.execute(
            insert(SlaEvent).values(conversation_id="t-1", kind=kind, queue="payments", at=T0 + at * HOUR)
        )
    for conversation, score in (("t-1", 5), ("t-2", 4), ("t-3", 3), ("t-4", 1), ("t-6", 5)):
        connection.execute(insert(SurveyScore).values(conversation_id=conversation, score=score, at=T0 + 10 * HOUR))


def figures(engine: Engine, **kw: object) -> dict[tuple[str, str, str, str], float]:
    span = ReportRange(start=T0, end=T0 + 24 * HOUR, **kw)  # type: ignore[arg-type]
    with engine.begin() as connection:
        found = report(connection, span)
    assert found == sorted(found, key=lambda f: (f.period, f.queue, f.measure, f.by))
    return {(f.period, f.queue, f.measure, f.by): f.value for f in found}


def test_the_whole_range_against_hand_computed_figures(record: Engine) -> None:
    whole = f"{T0.isoformat()}/{(T0 + 24 * HOUR).isoformat()}"
    got = {(q, m, b): v for (p, q, m, b), v in figures(record).items() if p == whole}
    assert len(got) == len(figures(record))  # one period: the whole range
    expected = {
        ("payments", "volume", "channel=email"): 3, ("payments", "volume", "channel=sms"): 2,
        ("payments", "volume", "channel=telegram"): 1,
        ("payments", "volume", "category=fees"): 3, ("payments", "volume", "category=top_up"): 2,
        ("payments", "volume", "category=refund"): 1,
        ("security", "volume", "channel=email"): 1, ("security", "volume", "category=security"): 1,
        # 60, 120, 300 (t-3's first sent answer), 600, 1200: median 300; p90 600 + 0.6 * 600.
        ("payments", "first_response_median_seconds", ""): 300, ("payments", "first_response_p90_seconds", ""): 960,
        ("payments", "first_response_cases", ""): 5,
        # 1800, 3600, 7200, 90000: median (3600 + 7200) / 2; p90 7200 + 0.7 * (90000 - 7200).
        ("payments", "resolution_median_seconds", ""): 5400, ("payments", "resolution_p90_seconds", ""): 65160,
        ("payments", "resolution_cases", ""): 4,
        ("payments", "sla_first_response_attainment", ""): 0.75, ("payments", "sla_first_response_events", ""): 4,
        ("payments", "sla_resolution_attainment", ""): 0.5, ("payments", "sla_resolution_events", ""): 2,
        ("payments", "csat_share", ""): 0.5, ("payments", "csat_ratings", ""): 4,  # 5 and 4 of 5, 4, 3, 1
        ("security", "csat_share", ""): 1.0, ("security", "csat_ratings", ""): 1,
    }  # fmt: skip
    assert got == pytest.approx(expected)


def test_days_are_cut_in_the_desks_time_zone(record: Engine) -> None:
    utc = figures(record, period="day", queue="payments")
    assert utc[("2026-03-02", "payments", "volume", "channel=sms")] == 2
    shanghai = figures(record, period="day", queue="payments", timezone="Asia/Shanghai")
    assert shanghai[("2026-03-02", "payments", "volume", "channel=sms")] == 1
    assert shanghai[("2026-03-03", "payments", "volume", "channel=sms")] == 1  # 04:00 the next morning there
    assert {queue for (_, queue, _, _) in shanghai} == {"payments"}


def test_a_report_refuses_a_range_that_ends_before_it_starts() -> None:
    with pytest.raises(ValueError, match="not after its start"):
        ReportRange(start=T0, end=T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        ReportRange(start=T0.replace(tzinfo=None), end=T0 + HOUR)


def test_the_report_command_writes_csv(record: Engine, record_url: str, tmp_path: Path) -> None:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text(f'[database]\nurl = "{record_url}"\n[desk]\ntimezone = "Asia/Shanghai"\n')
    result = CliRunner().invoke(
        app, ["report", "--from", "2026-03-02T08:00", "--to", "2026-03-03T08:00", "--queue", "security", "--csv",
              "--settings", str(settings_file)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "period,queue,measure,by,value"
    period = "2026-03-02T08:00:00+08:00/2026-03-03T08:00:00+08:00"  # times without an offset: the desk's zone
    assert f"{period},security,volume,channel=email,1" in lines
    assert f"{period},security,csat_share,,1" in lines
    assert all(",security," in line for line in lines[1:])
    bad = CliRunner().invoke(
        app, ["report", "--from", "yesterday", "--to", "2026-03-03", "--settings", str(settings_file)]
    )
    assert bad.exit_code == 2 and "--from" in bad.output
