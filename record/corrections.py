"""An agent's category correction, kept in the record's audit log: who changed which message's category from what to
what, in which queue, and why. The reports count them (`corrections`, record/reports.py) to show which categories
the router gets wrong most; the hot copy for training stays core/corrections.py's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert

from record.models import AuditEntry

ACTION = "recategorize"


def write_correction(
    connection: Connection, *, message_id: str, from_category: str, to_category: str, queue: str | None,
    agent: str, reason: str, at: datetime,
) -> None:  # fmt: skip
    connection.execute(
        insert(AuditEntry).values(
            at=at, actor=agent, action=ACTION, subject_kind="message", subject_id=message_id,
            detail={"from": from_category, "to": to_category, "queue": queue, "reason": reason},
        )
    )  # fmt: skip
