from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from core.notices import NoticeBoard, active_notices, all_notices, localize
from core.settings import Settings
from core.store import Store
from core.timing_settings import NoticeSpec, NoticesSettings

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_add_list_and_remove(store: Store) -> None:
    board = NoticeBoard(store)
    notice = board.add(NOW + timedelta(hours=6), "Top-ups are delayed", "充值到账延迟", now=NOW)
    assert [n.id for n in board.list(NOW)] == [notice.id]
    assert board.list(NOW)[0].text("zh") == "充值到账延迟"
    assert board.remove(notice.id)
    assert board.list(NOW) == []
    assert not board.remove(notice.id)


def test_one_text_serves_both_languages(store: Store) -> None:
    notice = NoticeBoard(store).add(NOW + timedelta(hours=1), text_zh="系统维护中", now=NOW)
    assert notice.text("en") == "系统维护中" and notice.text("zh") == "系统维护中"


def test_expired_notices_disappear_and_redis_expires_them(store: Store) -> None:
    board = NoticeBoard(store)
    notice = board.add(NOW + timedelta(hours=1), "soon over", now=NOW)
    assert board.list(NOW + timedelta(hours=2)) == []
    assert store.redis.zcard(store.key("notices")) == 0  # trimmed by the listing
    ttl = store.redis.ttl(store.key("notice", notice.id))
    assert isinstance(ttl, int) and ttl > 0  # the key itself ends at `until` whatever happens


def test_refuses_past_naive_and_empty(store: Store) -> None:
    board = NoticeBoard(store)
    with pytest.raises(ValueError, match="already past"):
        board.add(NOW - timedelta(minutes=1), "late", now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        board.add(datetime(2026, 12, 1, 18, 0), "naive", now=NOW)
    with pytest.raises(ValueError, match="needs a text"):
        board.add(NOW + timedelta(hours=1), "  ", now=NOW)


def test_settings_notices_merge_with_admin_ones(settings: Settings, store: Store) -> None:
    configured = settings.model_copy(
        update={
            "notices": NoticesSettings(
                timezone="Asia/Shanghai",
                items=[
                    NoticeSpec(text_en="Peak season", until=datetime(2026, 12, 1, 18, 0)),
                    NoticeSpec(text_en="Later", starts=datetime(2026, 12, 5, 0, 0), until=datetime(2026, 12, 6, 0, 0)),
                ],
            )
        }
    )
    admin = NoticeBoard(store).add(NOW + timedelta(hours=1), "Outage", "故障", now=NOW)
    active = active_notices(configured, store, NOW)
    assert [n.text("en") for n in active] == ["Outage", "Peak season"]
    assert active[1].until == datetime(2026, 12, 1, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert active[1].text("zh") == "Peak season"
    assert len(all_notices(configured, store, NOW)) == 3  # the later one is listed but not active yet
    assert [n.id for n in active_notices(configured, store, datetime(2026, 12, 5, 1, 0, tzinfo=UTC))] == ["settings-1"]
    assert admin.source == "admin" and active[1].source == "settings"


def test_localize_keeps_offsets() -> None:
    aware = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    assert localize(aware, "Asia/Shanghai") is aware
    assert localize(datetime(2026, 12, 1, 18, 0), "Asia/Shanghai").utcoffset() == timedelta(hours=8)


def test_notice_cli_add_list_remove(settings: Settings, store: Store, tmp_path: object) -> None:
    from helpline.notice_cli import notice_app

    runner = CliRunner()
    env = {"HELPLINE_REDIS__URL": settings.redis.url or ""}
    added = runner.invoke(
        notice_app, ["add", "Bank maintenance", "--zh", "银行维护", "--until", "2099-12-01T18:00"], env=env
    )
    assert added.exit_code == 0, added.output
    notice_id = added.output.split()[1]
    listed = runner.invoke(notice_app, ["list"], env=env)
    assert "Bank maintenance" in listed.output and "银行维护" in listed.output and notice_id in listed.output
    assert "2099-12-01 18:00" in listed.output
    removed = runner.invoke(notice_app, ["remove", notice_id], env=env)
    assert removed.exit_code == 0
    assert runner.invoke(notice_app, ["remove", notice_id], env=env).exit_code == 1
    past = runner.invoke(notice_app, ["add", "x", "--until", "2001-01-01T00:00"], env=env)
    assert past.exit_code == 2 and "already past" in past.output
