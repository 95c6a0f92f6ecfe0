"""A small record for the console's reports, with its figures worked out by hand below. Every time is relative to
`DAY` (2026-03-02, UTC, the desk's zone in the project's settings): nothing reads the clock.

| case | queue | channel | category | first response | resolved after | agent | score |
|---|---|---|---|---|---|---|---|
| t-1 | payments | email (+ a follow-up email) | fees | 120 s | 3600 s | a-alex | 5 |
| t-2 | payments | sms | top_up | 600 s | 7200 s | a-alex | 2 |
| t-3 | payments | email | fees | 300 s | – | – | – |
| t-4 | security | telegram | security | 1800 s | 5400 s | a-sofia | 4 |

payments: volume email 3, sms 1; fees 3, top_up 1. First response 120, 300, 600 → median 300 s (5 min), p90
300 + 0.8 × 300 = 540 s (9 min). Resolution 3600, 7200 → median 5400 s (1 h 30 min), p90 3600 + 0.9 × 3600 =
6840 s (1 h 54 min). SLA first response 3 met of 4 (75%), resolution 1 of 2 (50%). CSAT 5 and 2 → 50%, 2 ratings.
security: telegram 1; first response 30 min; resolution 1 h 30 min; CSAT 100%, 1 rating.
Corrections (payments): fees → refund twice (by a-alex), top_up → fees once (by a-sofia).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, insert

from record.corrections import write_correction
from record.models import Agent, Contact, Conversation, Message, SlaEvent, SurveyScore

DAY = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)


def seed(connection: Connection) -> None:
    connection.execute(insert(Contact).values(id="c-1", created_at=DAY - timedelta(days=30)))
    for agent_id, name in (("a-alex", "Alex Agent"), ("a-sofia", "Sofia Supervisor")):
        connection.execute(insert(Agent).values(id=agent_id, name=name, email=None, created_at=DAY - HOUR))
    cases = (
        ("t-1", "payments", "email", "fees", 9, 120, 3600, "a-alex"),
        ("t-2", "payments", "sms", "top_up", 10, 600, 7200, "a-alex"),
        ("t-3", "payments", "email", "fees", 11, 300, None, None),
        ("t-4", "security", "telegram", "security", 12, 1800, 5400, "a-sofia"),
    )
    for case, queue, channel, category, hour, first, resolved, agent in cases:
        created = DAY + hour * HOUR
        connection.execute(
            insert(Conversation).values(
                id=case, reference=f"HL-{case}", contact_id="c-1", channel=channel, queue=queue, category=category,
                created_at=created, first_response_at=created + timedelta(seconds=first), assigned_agent_id=agent,
                resolved_at=created + timedelta(seconds=resolved) if resolved is not None else None,
            )
        )  # fmt: skip
        message(connection, f"m-{case}", case, channel, created, queue, category)
    message(connection, "m-t-1b", "t-1", "email", DAY + 9.5 * HOUR, "payments", "fees")
    message(connection, "m-next-day", "t-3", "email", DAY + 25 * HOUR, "payments", "fees")  # outside the day
    for kind, case in (("first_response_met", "t-1"), ("first_response_met", "t-2"), ("first_response_met", "t-3"),
                       ("first_response_breached", "t-3"), ("resolution_met", "t-1"),
                       ("resolution_breached", "t-2")):  # fmt: skip
        event = {"conversation_id": case, "kind": kind, "queue": "payments", "at": DAY + 13 * HOUR}
        connection.execute(insert(SlaEvent).values(**event))
    for case, score in (("t-1", 5), ("t-2", 2), ("t-4", 4)):
        connection.execute(insert(SurveyScore).values(conversation_id=case, score=score, at=DAY + 14 * HOUR))
    for message_id, old, new, agent in (("m-t-1", "fees", "refund", "a-alex"), ("m-t-3", "fees", "refund", "a-alex"),
                                        ("m-t-2", "top_up", "fees", "a-sofia")):  # fmt: skip
        write_correction(
            connection, message_id=message_id, from_category=old, to_category=new, queue="payments", agent=agent,
            reason="the customer asked about something else", at=DAY + 15 * HOUR,
        )  # fmt: skip


def message(connection: Connection, id: str, case: str, channel: str, at: datetime, queue: str, category: str) -> None:
    connection.execute(
        insert(Message).values(
            id=id, channel=channel, provider_id=id, conversation_id=case, contact_id="c-1", state="routed",
            sender="alice@example.com", received_at=at, recorded_at=at,
            decision={"queue": queue, "category": category, "priority": "normal"},
        )
    )  # fmt: skip
