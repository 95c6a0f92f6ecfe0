"""Per queue and per agent figures in `/metrics`, read from a real PostgreSQL record: cases by state, first response
and resolution times, SLA breaches, CSAT and send failures; and the Redis figures still served when the record is
away."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, insert

from core.agent_settings import Role
from core.store import Store
from desk.agents import AgentStore
from record.engine import engine_for
from record.models import Contact, Conversation, Message, Reply, SlaEvent, SurveyScore
from tests.support.ports import free_port
from web.metrics import exposition

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(record_url: str) -> Iterator[Engine]:
    engine = engine_for(record_url)
    yield engine
    engine.dispose()


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def case(n: int, queue: str, agent: str | None, *, responded: int | None, resolved: int | None) -> dict[str, object]:
    """Case `t-n`, created at T0; first response and resolution that many minutes later (None: not yet)."""
    return {
        "id": f"t-{n}", "reference": f"HL-{n}", "contact_id": "c-1", "channel": "email", "queue": queue,
        "assigned_agent_id": agent, "status": "open", "created_at": T0,
        "first_response_at": T0 + timedelta(minutes=responded) if responded is not None else None,
        "resolved_at": T0 + timedelta(minutes=resolved) if resolved is not None else None,
    }  # fmt: skip


def test_per_queue_and_per_agent_figures(engine: Engine, store: Store) -> None:
    agents = AgentStore(engine)
    ana = agents.add("Ana", "ana@desk.example", queues=["security"]).id
    bo = agents.add("Bo", "bo@desk.example", queues=["general"], role=Role.SUPERVISOR).id
    agents.set_away(bo, True)
    with engine.begin() as db:
        db.execute(insert(Contact).values(id="c-1", created_at=T0))
        db.execute(insert(Conversation).values([
            case(1, "security", ana, responded=10, resolved=60),
            case(2, "security", ana, responded=30, resolved=None),
            case(3, "security", None, responded=None, resolved=None),
            case(4, "general", bo, responded=5, resolved=None) | {"status": "pending"},
        ]))  # fmt: skip
        db.execute(insert(Message).values(
            id="m-1", channel="email", provider_id="p-1", conversation_id="t-2", contact_id="c-1", state="routed",
            sender="a@example.com", received_at=T0, recorded_at=T0,
        ))  # fmt: skip
        db.execute(insert(Reply).values([
            {"id": f"r-{n}", "message_id": "m-1", "conversation_id": "t-2", "channel": "email", "to_address": "a@x",
             "purpose": "answer", "language": "en", "text": "hi", "state": state, "created_at": T0, "updated_at": T0}
            for n, state in ((1, "failed"), (2, "failed"), (3, "delivered"))
        ]))  # fmt: skip
        db.execute(insert(SlaEvent).values([
            {"conversation_id": "t-2", "kind": "resolution_breached", "queue": "security", "at": T0},
            {"conversation_id": "t-3", "kind": "first_response_breached", "queue": "security", "at": T0},
            {"conversation_id": "t-1", "kind": "first_response_met", "queue": "security", "at": T0},
        ]))  # fmt: skip
        db.execute(insert(SurveyScore).values([
            {"conversation_id": "t-1", "score": 5, "at": T0}, {"conversation_id": "t-2", "score": 2, "at": T0},
        ]))  # fmt: skip
    got = samples(exposition(store, engine))

    def value(metric: str, /, **labels: str) -> float | None:
        return got.get((metric, tuple(sorted(labels.items()))))

    assert value("helpline_record_up") == 1
    assert value("helpline_cases", queue="security", agent=ana, state="open") == 1
    assert value("helpline_cases", queue="security", agent=ana, state="resolved") == 1
    assert value("helpline_cases", queue="security", agent="-", state="open") == 1
    assert value("helpline_cases", queue="general", agent=bo, state="pending") == 1
    assert value("helpline_first_response_seconds_count", queue="security", agent=ana) == 2
    assert value("helpline_first_response_seconds_sum", queue="security", agent=ana) == 40 * 60
    assert value("helpline_first_response_seconds_count", queue="security", agent="-") is None  # none yet
    assert value("helpline_resolution_seconds_sum", queue="security", agent=ana) == 3600
    assert value("helpline_resolution_seconds_count", queue="security", agent=ana) == 1
    assert value("helpline_sla_breaches_total", queue="security", agent=ana, target="resolution") == 1
    assert value("helpline_sla_breaches_total", queue="security", agent="-", target="first_response") == 1
    assert value("helpline_sla_breaches_total", queue="security", agent=ana, target="first_response") is None
    assert value("helpline_csat_score_sum", queue="security", agent=ana) == 7
    assert value("helpline_csat_score_count", queue="security", agent=ana) == 2
    assert value("helpline_case_send_failures_total", queue="security", agent=ana, channel="email") == 2
    assert value("helpline_agent_info", agent=bo, name="Bo", role="supervisor") == 1
    assert value("helpline_agent_away", agent=bo) == 1 and value("helpline_agent_away", agent=ana) == 0
    assert value("helpline_agent_capacity", agent=ana) == 5


def test_a_record_away_leaves_its_figures_out(store: Store) -> None:
    away = engine_for(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing")
    try:
        got = samples(exposition(store, away))
    finally:
        away.dispose()
    assert got[("helpline_record_up", ())] == 0
    assert got[("helpline_messages_stored", ())] == 0  # Redis's figures are still there
    assert not any(name.startswith("helpline_cases") for name, _ in got)
