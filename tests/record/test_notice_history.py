"""Notices keep their history in the record: `notice add` and `notice remove` queue a record-update job (no SQL in
the command itself), the job writes one row per notice with its withdrawal, and `notice history` lists them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from core.notices import NoticeBoard
from core.record_queue import RECORD_QUEUE
from core.settings import Settings
from core.store import Store
from record.engine import engine_for
from record.models import NoticeRecord
from tests.support.work import drain

NOW = datetime(2026, 3, 9, 1, 15, tzinfo=UTC)  # the notices' own clock; the board never asks Redis for the date


@pytest.fixture
def record(settings: Settings) -> Iterator[Engine]:
    assert settings.database.url is not None
    engine = engine_for(settings.database.url)
    yield engine
    engine.dispose()


def rows(record: Engine) -> list[tuple[str, str, datetime | None, datetime | None]]:
    with record.connect() as connection:
        found = connection.execute(
            select(NoticeRecord.id, NoticeRecord.text_zh, NoticeRecord.until, NoticeRecord.withdrawn_at).order_by(
                NoticeRecord.created_at
            )
        )
        return [tuple(row) for row in found]  # type: ignore[misc]


def test_added_and_withdrawn_notices_stay_in_the_record(store: Store, settings: Settings, record: Engine) -> None:
    board = NoticeBoard(store)
    kept = board.add(NOW + timedelta(hours=2), "Top-ups are delayed", "充值到账延迟", now=NOW)
    gone = board.add(NOW + timedelta(hours=3), "Maintenance", "系统维护", now=NOW + timedelta(minutes=1))
    assert store.queue(RECORD_QUEUE).count == 2  # the command queued the history; it wrote no SQL
    assert rows(record) == []
    assert board.remove(gone.id, now=NOW + timedelta(minutes=30))
    drain(settings)
    drain(settings)  # nothing left to run; a second drain must not duplicate anything either
    assert rows(record) == [
        (kept.id, "充值到账延迟", NOW + timedelta(hours=2), None),
        (gone.id, "系统维护", NOW + timedelta(hours=3), NOW + timedelta(minutes=30)),
    ]
    assert [n.id for n in board.list(NOW)] == [kept.id]  # the active notice is still read from Redis


def test_a_notice_withdrawn_before_its_first_job_ran_is_recorded_once(
    store: Store, settings: Settings, record: Engine
) -> None:
    board = NoticeBoard(store)
    notice = board.add(NOW + timedelta(hours=1), "Outage", now=NOW)
    assert board.remove(notice.id, now=NOW + timedelta(minutes=5))
    assert not board.remove(notice.id, now=NOW + timedelta(minutes=6))  # nothing left to withdraw: no job
    assert store.queue(RECORD_QUEUE).count == 2
    # The withdrawal's job runs first (a paused add job could come later): it carries the notice itself.
    queue = store.queue(RECORD_QUEUE)
    first = queue.job_ids[0]
    queue.remove(first)
    drain(settings)
    assert rows(record) == [(notice.id, "Outage", NOW + timedelta(hours=1), NOW + timedelta(minutes=5))]
    queue.enqueue_job(queue.fetch_job(first))  # type: ignore[arg-type]
    drain(settings)  # the late `add` keeps the withdrawal
    assert rows(record) == [(notice.id, "Outage", NOW + timedelta(hours=1), NOW + timedelta(minutes=5))]


def test_notice_history_lists_the_record(store: Store, settings: Settings) -> None:
    from helpline.notice_cli import notice_app

    runner = CliRunner()
    env = {"HELPLINE_REDIS__URL": settings.redis.url or "", "HELPLINE_DATABASE__URL": settings.database.url or ""}
    assert runner.invoke(notice_app, ["history"], env=env).output.strip() == "no notices in the record"
    board = NoticeBoard(store)
    board.add(NOW + timedelta(hours=2), "Bank maintenance", "银行维护", now=NOW)
    withdrawn = board.add(NOW + timedelta(hours=1), "Peak season", now=NOW + timedelta(minutes=1))
    board.remove(withdrawn.id, now=NOW + timedelta(minutes=20))
    drain(settings)
    shown = runner.invoke(notice_app, ["history"], env=env)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    # Newest first, times in [notices].timezone (Asia/Shanghai, +0800).
    assert lines[0].startswith(f"{withdrawn.id}  added 2026-03-09 09:16 +0800  until 2026-03-09 10:15 +0800")
    assert lines[0].endswith("withdrawn 2026-03-09 09:35 +0800")
    assert lines[1].strip() == "Peak season"
    assert "withdrawn" not in lines[2] and lines[3].strip() == "Bank maintenance | 银行维护"
    assert runner.invoke(notice_app, ["history", "--limit", "1"], env=env).output.count("added") == 1
