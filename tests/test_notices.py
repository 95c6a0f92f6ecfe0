from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from core.notices import NoticeBoard, active_notices, all_notices, localize
from core.settings import Settings
from core.store import Store
from core.timing_settings import NoticeSpec, NoticesSettings

SH = ZoneInfo("Asia/Shanghai")
TODAY = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(params=[-25 * 365, 0, 25 * 365], ids=["years-behind", "today", "years-ahead"])
def now(request: pytest.FixtureRequest) -> datetime:
    """The notices' clock, whatever the date: the board must agree with Redis's real clock on any of these, so its
    expiries are durations from this `now`, never absolute times (tests/test_one_clock.py)."""
    return TODAY + timedelta(days=request.param)


def local(moment: datetime) -> datetime:
    """`moment` as a naive Shanghai wall time, the way an admin writes it in settings.toml."""
    return moment.astimezone(SH).replace(tzinfo=None)


def test_add_list_and_remove(store: Store, now: datetime) -> None:
    board = NoticeBoard(store)
    notice = board.add(now + timedelta(hours=6), "Top-ups are delayed", "充值到账延迟", now=now)
    assert [n.id for n in board.list(now)] == [notice.id]
    assert board.list(now)[0].text("zh") == "充值到账延迟"
    assert board.remove(notice.id)
    assert board.list(now) == []
    assert not board.remove(notice.id)


def test_one_text_serves_both_languages(store: Store, now: datetime) -> None:
    notice = NoticeBoard(store).add(now + timedelta(hours=1), text_zh="系统维护中", now=now)
    assert notice.text("en") == "系统维护中" and notice.text("zh") == "系统维护中"


def test_expired_notices_disappear_and_redis_expires_them(store: Store, now: datetime) -> None:
    board = NoticeBoard(store)
    notice = board.add(now + timedelta(hours=1), "soon over", now=now)
    assert board.list(now + timedelta(hours=2)) == []
    later = board.add(now + timedelta(hours=3), "another", now=now + timedelta(hours=2))
    # The listing only reads (every acknowledgement lists the board); the next notice added trims the ended ones.
    assert store.redis.zrange(store.key("notices"), 0, -1) == [later.id.encode()]
    ttl = store.redis.ttl(store.key("notice", notice.id))
    assert isinstance(ttl, int) and ttl > 0  # the key itself ends at `until` whatever happens


def test_refuses_past_naive_and_empty(store: Store, now: datetime) -> None:
    board = NoticeBoard(store)
    with pytest.raises(ValueError, match="already past"):
        board.add(now - timedelta(minutes=1), "late", now=now)
    with pytest.raises(ValueError, match="timezone-aware"):
        board.add(local(now + timedelta(hours=1)), "naive", now=now)
    with pytest.raises(ValueError, match="needs a text"):
        board.add(now + timedelta(hours=1), "  ", now=now)


def test_settings_notices_merge_with_admin_ones(settings: Settings, store: Store, now: datetime) -> None:
    configured = settings.model_copy(
        update={
            "notices": NoticesSettings(
                timezone="Asia/Shanghai",
                items=[
                    NoticeSpec(text_en="Peak season", until=local(now + timedelta(days=1))),
                    NoticeSpec(
                        text_en="Later", starts=local(now + timedelta(days=5)), until=local(now + timedelta(days=6))
                    ),
                ],
            )
        }
    )
    admin = NoticeBoard(store).add(now + timedelta(hours=1), "Outage", "故障", now=now)
    active = active_notices(configured, store, now)
    assert [n.text("en") for n in active] == ["Outage", "Peak season"]
    assert active[1].until == local(now + timedelta(days=1)).replace(tzinfo=SH)
    assert active[1].text("zh") == "Peak season"
    assert len(all_notices(configured, store, now)) == 3  # the later one is listed but not active yet
    assert [n.id for n in active_notices(configured, store, now + timedelta(days=5, hours=1))] == ["settings-1"]
    assert admin.source == "admin" and active[1].source == "settings"


def test_localize_keeps_offsets() -> None:
    aware = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    assert localize(aware, "Asia/Shanghai") is aware
    assert localize(datetime(2026, 12, 1, 18, 0), "Asia/Shanghai").utcoffset() == timedelta(hours=8)


def test_notice_cli_add_list_remove(settings: Settings, store: Store, tmp_path: object) -> None:
    from helpline.notice_cli import notice_app

    runner = CliRunner()
    env = {"HELPLINE_REDIS__URL": settings.redis.url or ""}
    until = local(TODAY + timedelta(days=30)).replace(second=0)  # the CLI reads wall time in [notices].timezone
    added = runner.invoke(
        notice_app, ["add", "Bank maintenance", "--zh", "银行维护", "--until", until.isoformat()], env=env
    )
    assert added.exit_code == 0, added.output
    notice_id = added.output.split()[1]
    listed = runner.invoke(notice_app, ["list"], env=env)
    assert "Bank maintenance" in listed.output and "银行维护" in listed.output and notice_id in listed.output
    assert until.strftime("%Y-%m-%d %H:%M") in listed.output
    removed = runner.invoke(notice_app, ["remove", notice_id], env=env)
    assert removed.exit_code == 0
    assert runner.invoke(notice_app, ["remove", notice_id], env=env).exit_code == 1
    past = runner.invoke(notice_app, ["add", "x", "--until", local(TODAY - timedelta(days=1)).isoformat()], env=env)
    assert past.exit_code == 2 and "already past" in past.output
