"""Incidents in the record: the `incidents` row, the cases linked to it (`incident_cases`), and the two conditional
UPDATEs that make answering an incident safe when two supervisors do it at once.

- `claim_answer` moves an incident from open to answering in one statement: of two supervisors, one gets the row,
  the other nothing. A claim older than `stale_before` (its process died mid-way) may be taken over.
- `claim_case` stamps a linked case answered before its answer is sent, again in one statement: even a taken-over
  claim running beside the original never answers a case twice. A process dying between the stamp and the send
  leaves that case unanswered (its outcome stays empty): at most once, never twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from record.models import Conversation, Incident, IncidentCase


@dataclass(frozen=True)
class IncidentRow:
    id: str
    title: str
    status: str  # open, answering, resolved
    started_at: datetime
    resolved_at: datetime | None
    opened_by: str | None
    notice_id: str | None
    answered_by: str | None
    answering_since: datetime | None
    answer_en: str | None
    answer_zh: str | None
    detail: dict[str, Any]
    cases: int  # how many are linked


@dataclass(frozen=True)
class LinkRow:
    case_id: str
    reference: str
    status: str  # the record's status of the case
    channel: str
    queue: str | None
    linked_by: str
    linked_at: datetime
    answered_at: datetime | None
    reply_id: str | None
    outcome: str | None


_INCIDENT_COLUMNS = (
    Incident.id, Incident.title, Incident.status, Incident.started_at, Incident.resolved_at, Incident.opened_by,
    Incident.notice_id, Incident.answered_by, Incident.answering_since, Incident.answer_en, Incident.answer_zh,
    Incident.detail,
)  # fmt: skip


def create_incident(
    connection: Connection, incident_id: str, title: str, opened_by: str, at: datetime, notice_id: str | None
) -> None:
    connection.execute(
        insert(Incident).values(
            id=incident_id, title=title, status="open", started_at=at, opened_by=opened_by, notice_id=notice_id,
            detail={},
        )
    )  # fmt: skip


def _with_counts() -> Select[*tuple[Any, ...]]:
    count = select(func.count()).select_from(IncidentCase).where(IncidentCase.incident_id == Incident.id)
    return select(*_INCIDENT_COLUMNS, count.scalar_subquery().label("cases"))


def incidents(connection: Connection, *, status: str | None = None, limit: int = 50) -> list[IncidentRow]:
    """Incidents, the most recently started first, with how many cases each has."""
    query = _with_counts()
    if status is not None:
        query = query.where(Incident.status == status)
    query = query.order_by(Incident.started_at.desc(), Incident.id.desc()).limit(limit)
    return [IncidentRow(**row._mapping) for row in connection.execute(query)]


def incident(connection: Connection, incident_id: str) -> IncidentRow | None:
    row = connection.execute(_with_counts().where(Incident.id == incident_id)).first()
    return IncidentRow(**row._mapping) if row is not None else None


def status_for_change(connection: Connection, incident_id: str) -> str | None:
    """The incident's status, share-locked until the transaction ends: a link or unlink committed before a claim to
    answer is in the cases that answer reads, and one arriving after the claim sees `answering` (the claim's UPDATE
    waits for the lock, and the lock for the claim)."""
    return connection.scalar(select(Incident.status).where(Incident.id == incident_id).with_for_update(read=True))


def links(connection: Connection, incident_id: str) -> list[LinkRow]:
    """The incident's cases, in the order they were linked."""
    rows = connection.execute(
        select(
            IncidentCase.conversation_id.label("case_id"),
            Conversation.reference,
            Conversation.status,
            Conversation.channel,
            Conversation.queue,
            IncidentCase.linked_by,
            IncidentCase.linked_at,
            IncidentCase.answered_at,
            IncidentCase.reply_id,
            IncidentCase.outcome,
        )
        .join(Conversation, Conversation.id == IncidentCase.conversation_id)
        .where(IncidentCase.incident_id == incident_id)
        .order_by(IncidentCase.linked_at, IncidentCase.conversation_id)
    )
    return [LinkRow(**row._mapping) for row in rows]


def elsewhere(connection: Connection, incident_id: str, case_ids: Iterable[str]) -> dict[str, str]:
    """Of `case_ids`, those linked to another incident not yet resolved: {case id: that incident's id}."""
    rows = connection.execute(
        select(IncidentCase.conversation_id, IncidentCase.incident_id)
        .join(Incident, Incident.id == IncidentCase.incident_id)
        .where(
            IncidentCase.conversation_id.in_(sorted(set(case_ids))),
            IncidentCase.incident_id != incident_id,
            Incident.status != "resolved",
        )
    )
    return {row.conversation_id: row.incident_id for row in rows}


def link_cases(
    connection: Connection, incident_id: str, case_ids: Iterable[str], linked_by: str, at: datetime
) -> list[str]:
    """Link the cases; returns those newly linked (a case linked already stays as it was)."""
    values = [
        {"incident_id": incident_id, "conversation_id": case_id, "linked_by": linked_by, "linked_at": at}
        for case_id in dict.fromkeys(case_ids)
    ]
    if not values:
        return []
    statement = insert(IncidentCase).values(values).on_conflict_do_nothing().returning(IncidentCase.conversation_id)
    return list(connection.scalars(statement))


def unlink_case(connection: Connection, incident_id: str, case_id: str) -> bool:
    """Unlink a case not yet answered; False when it was not linked (or was answered already)."""
    done = connection.execute(
        delete(IncidentCase).where(
            IncidentCase.incident_id == incident_id,
            IncidentCase.conversation_id == case_id,
            IncidentCase.answered_at.is_(None),
        )
    )
    return done.rowcount > 0


def claim_answer(
    connection: Connection,
    incident_id: str,
    answered_by: str,
    texts: tuple[str, str],
    now: datetime,
    stale_before: datetime,
) -> bool:
    """Open → answering, for `answered_by`, with the answer's texts (en, zh); False when another supervisor holds a
    live claim, or the incident is resolved."""
    claimable = or_(
        Incident.status == "open", (Incident.status == "answering") & (Incident.answering_since < stale_before)
    )
    done = connection.execute(
        update(Incident)
        .where(Incident.id == incident_id, claimable)
        .values(
            status="answering", answered_by=answered_by, answering_since=now, answer_en=texts[0], answer_zh=texts[1]
        )
    )
    return done.rowcount > 0


def claim_case(connection: Connection, incident_id: str, case_id: str, now: datetime) -> bool:
    """Stamp a linked case answered; False when it was (by anyone) already."""
    done = connection.execute(
        update(IncidentCase)
        .where(
            IncidentCase.incident_id == incident_id,
            IncidentCase.conversation_id == case_id,
            IncidentCase.answered_at.is_(None),
        )
        .values(answered_at=now)
    )
    return done.rowcount > 0


def case_outcome(connection: Connection, incident_id: str, case_id: str, reply_id: str | None, outcome: str) -> None:
    connection.execute(
        update(IncidentCase)
        .where(IncidentCase.incident_id == incident_id, IncidentCase.conversation_id == case_id)
        .values(reply_id=reply_id, outcome=outcome)
    )


def finish(connection: Connection, incident_id: str, answered_by: str, at: datetime) -> bool:
    """Answering → resolved, by the supervisor holding the claim; False when the claim was taken over."""
    done = connection.execute(
        update(Incident)
        .where(Incident.id == incident_id, Incident.status == "answering", Incident.answered_by == answered_by)
        .values(status="resolved", resolved_at=at)
    )
    return done.rowcount > 0
