"""Status notices: a line every acknowledgement carries while an outage or a promotion peak lasts.

Two sources, merged by `active_notices`: notices an admin adds at run time (`helpline notice add`), kept in Redis,
and notices written in settings.toml (`[[notices.items]]`). Each has an English and a Chinese text (one text given
serves both) and an end time; a notice past its end is never shown.

The record keeps every admin-added notice and when it was withdrawn (record/notices.py, `helpline notice history`):
adding or removing one queues a record-update job in the same MULTI, so the command needs no PostgreSQL (an outage
notice must go out while the database is the thing that is down) and the history never misses a notice.

Keys: `notice:{id}` holds the notice's JSON and expires by itself at its end, `notices` is a zset of ids scored by
end time, so listing is one range read and expired ids are trimmed as a side effect. The expiry is a duration
computed from the caller's `now`, never an absolute time (EXPIREAT): Redis's own clock never has to agree with ours
(tests/test_one_clock.py keeps it so).
Times written without an offset (`--until 2026-12-01T18:00`, or in settings) are in `[notices].timezone`.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from core.ids import new_id
from core.language import reply_language
from core.record_queue import queue_notice
from core.records import utcnow
from core.settings import Settings
from core.store import Store, store_errors, text


class Notice(BaseModel):
    id: str
    text_en: str
    text_zh: str
    until: datetime
    starts: datetime | None = None
    source: Literal["admin", "settings"] = "admin"
    created_at: datetime = Field(default_factory=utcnow)

    def active(self, now: datetime) -> bool:
        return (self.starts is None or self.starts <= now) and now < self.until

    def text(self, language: str) -> str:
        return self.text_zh if reply_language(language) == "zh" else self.text_en


def localize(at: datetime, zone: str) -> datetime:
    """An admin's time without an offset is meant in the desk's zone, not the server's."""
    return at if at.tzinfo is not None and at.utcoffset() is not None else at.replace(tzinfo=ZoneInfo(zone))


def _texts(text_en: str | None, text_zh: str | None) -> tuple[str, str]:
    text_en, text_zh = (text_en or "").strip(), (text_zh or "").strip()
    if not (text_en or text_zh):
        raise ValueError("a notice needs a text")
    return text_en or text_zh, text_zh or text_en


class NoticeBoard:
    """The admin-added notices in Redis."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis = store.redis
        self.index = store.key("notices")

    def add(
        self,
        until: datetime,
        text_en: str | None = None,
        text_zh: str | None = None,
        *,
        starts: datetime | None = None,
        now: datetime | None = None,
    ) -> Notice:
        now = now or utcnow()
        if until.tzinfo is None or (starts is not None and starts.tzinfo is None):
            raise ValueError("notice times must be timezone-aware; see core.notices.localize")
        if until <= now:
            raise ValueError(f"until {until.isoformat()} is already past")
        if starts is not None and starts >= until:
            raise ValueError("starts must be before until")
        en, zh = _texts(text_en, text_zh)
        notice = Notice(id=new_id("n"), text_en=en, text_zh=zh, until=until, starts=starts, created_at=now)
        with store_errors(), self.redis.pipeline() as pipe:
            pipe.multi()  # explicitly first: RQ adds its own MULTI to a pipeline that has none yet
            pipe.set(self.store.key("notice", notice.id), notice.model_dump_json())
            pipe.expire(self.store.key("notice", notice.id), math.ceil((until - now).total_seconds()) + 1)
            pipe.zadd(self.index, {notice.id: until.timestamp()})
            pipe.zremrangebyscore(self.index, "-inf", now.timestamp())  # the ended ones, so the index stays small
            queue_notice(self.store, pipe, notice.id, notice.model_dump_json())
            pipe.execute()
        return notice

    def list(self, now: datetime | None = None) -> list[Notice]:
        """Notices not yet ended (including ones that start later), soonest end first."""
        now = now or utcnow()
        with store_errors():  # read only: every acknowledgement reads the board; `add` drops the ended ones
            ids = [text(i) for i in self.redis.zrangebyscore(self.index, now.timestamp(), "+inf")]
            raw = self.redis.mget([self.store.key("notice", i) for i in ids]) if ids else []
        notices = [Notice.model_validate_json(r) for r in raw if r is not None]
        return [n for n in notices if now < n.until]

    def remove(self, notice_id: str, *, now: datetime | None = None) -> bool:
        """Withdraw a notice; the record keeps it, stamped withdrawn at `now`. False when there was no such notice."""
        now = now or utcnow()
        key = self.store.key("notice", notice_id)
        with store_errors():
            known = self.redis.get(key)
            if known is None and self.redis.zscore(self.index, notice_id) is None:
                return False
            with self.redis.pipeline() as pipe:
                pipe.multi()
                pipe.delete(key)
                pipe.zrem(self.index, notice_id)
                queue_notice(self.store, pipe, notice_id, text(known) if known is not None else None, now)
                pipe.execute()
        return True


def settings_notices(settings: Settings) -> list[Notice]:
    zone = settings.notices.timezone
    out = []
    for i, spec in enumerate(settings.notices.items):
        en, zh = _texts(spec.text_en, spec.text_zh)
        starts = localize(spec.starts, zone) if spec.starts else None
        until = localize(spec.until, zone)
        out.append(Notice(id=f"settings-{i}", text_en=en, text_zh=zh, until=until, starts=starts, source="settings"))
    return out


def all_notices(settings: Settings, store: Store, now: datetime) -> list[Notice]:
    """Every notice not yet ended, from settings and from Redis."""
    notices = [n for n in settings_notices(settings) if now < n.until] + NoticeBoard(store).list(now)
    return sorted(notices, key=lambda n: (n.until, n.id))


def active_notices(settings: Settings, store: Store, now: datetime) -> list[Notice]:
    """The notices every acknowledgement carries right now."""
    return [n for n in all_notices(settings, store, now) if n.active(now)]
