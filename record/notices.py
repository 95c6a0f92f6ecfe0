"""The notices' history in the record: every notice an admin added (`helpline notice add`) and when it was withdrawn
(`helpline notice remove`), kept after its Redis keys expired. The active notices themselves stay in Redis
(core/notices.py), where every acknowledgement reads them without SQL.

Rows are written by the record-update job `record_notice` (workers/record_updates.py), which carries the notice
itself, so a notice withdrawn before its first job ran is still recorded. Each write is an upsert keyed by the
notice's id: a job run twice, or an `add` and a `remove` recorded in either order, leave one row with both times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects.postgresql import insert

from core.notices import Notice
from record.models import NoticeRecord


def write_notice(connection: Connection, notice: Notice, withdrawn_at: datetime | None = None) -> None:
    """Insert the notice (or leave it as recorded); a `withdrawn_at` is kept once: the first withdrawal counts."""
    row = notice.model_dump(include={"id", "text_en", "text_zh", "starts", "until", "created_at"})
    connection.execute(
        insert(NoticeRecord)
        .values(**row, withdrawn_at=withdrawn_at)
        .on_conflict_do_update(
            index_elements=[NoticeRecord.id],
            set_={"withdrawn_at": func.coalesce(NoticeRecord.withdrawn_at, withdrawn_at)},
        )
    )


def withdraw_notice(connection: Connection, notice_id: str, withdrawn_at: datetime) -> bool:
    """Stamp a recorded notice withdrawn; False when the record does not hold it."""
    updated = connection.execute(
        update(NoticeRecord)
        .where(NoticeRecord.id == notice_id)
        .values(withdrawn_at=func.coalesce(NoticeRecord.withdrawn_at, withdrawn_at))
    )
    return updated.rowcount > 0


@dataclass(frozen=True)
class NoticeEntry:
    id: str
    text_en: str
    text_zh: str
    starts: datetime | None
    until: datetime | None
    created_at: datetime
    withdrawn_at: datetime | None


def notice_history(connection: Connection, *, limit: int = 100) -> list[NoticeEntry]:
    """The most recently created notices first."""
    columns = [getattr(NoticeRecord, name) for name in NoticeEntry.__dataclass_fields__]
    rows = connection.execute(select(*columns).order_by(NoticeRecord.created_at.desc()).limit(limit))
    return [NoticeEntry(**row._mapping) for row in rows]
