from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from core.settings import Settings, load_settings
from core.timing_settings import BusinessHoursSettings, parse_interval
from router.hours import BusinessCalendar
from tests.conftest import ROOT

SH = ZoneInfo("Asia/Shanghai")
WEEKDAY_9_TO_6 = {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def calendar(**extra: object) -> BusinessCalendar:
    config = BusinessHoursSettings.model_validate({"timezone": "Asia/Shanghai", "weekly": WEEKDAY_9_TO_6, **extra})
    return BusinessCalendar.from_config({"general": config})


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


def test_open_on_a_weekday_afternoon_closed_at_night_and_weekend() -> None:
    cal = calendar()
    assert cal.in_business_hours("general", sh(2026, 3, 4, 14, 0))  # Wednesday
    assert not cal.in_business_hours("general", sh(2026, 3, 4, 18, 0))  # closing time is exclusive
    assert cal.in_business_hours("general", sh(2026, 3, 4, 9, 0))
    assert not cal.in_business_hours("general", sh(2026, 3, 7, 11, 0))  # Saturday


def test_time_zone_is_the_queues_not_the_callers() -> None:
    cal = calendar()
    # 02:00 UTC on a Wednesday is 10:00 in Shanghai.
    assert cal.in_business_hours("general", datetime(2026, 3, 4, 2, 0, tzinfo=UTC))
    assert not cal.in_business_hours("general", datetime(2026, 3, 4, 12, 0, tzinfo=UTC))  # 20:00 in Shanghai


def test_holidays_close_and_make_up_workdays_open() -> None:
    cal = calendar(holidays=[date(2026, 10, 1)], workdays=[date(2026, 10, 10)])
    assert not cal.in_business_hours("general", sh(2026, 10, 1, 10, 0))  # a Thursday, but National Day
    assert cal.in_business_hours("general", sh(2026, 10, 10, 10, 0))  # a Saturday worked instead


def test_queue_without_hours_is_always_open() -> None:
    cal = calendar()
    night = sh(2026, 3, 7, 3, 0)
    assert cal.in_business_hours("security", night)
    assert cal.add_business_time("security", night, timedelta(minutes=15)) == night + timedelta(minutes=15)
    assert cal.business_time_between("security", night, night + timedelta(hours=5)) == timedelta(hours=5)


def test_add_business_time_within_one_day() -> None:
    assert calendar().add_business_time("general", sh(2026, 3, 4, 10, 0), timedelta(hours=2)) == sh(2026, 3, 4, 12, 0)


def test_add_business_time_carries_over_the_weekend() -> None:
    friday_5pm = sh(2026, 3, 6, 17, 0)
    due = calendar().add_business_time("general", friday_5pm, timedelta(hours=4))
    assert due == sh(2026, 3, 9, 12, 0)  # one hour on Friday, three on Monday


def test_add_business_time_from_outside_hours_starts_at_opening() -> None:
    sunday = sh(2026, 3, 8, 22, 0)
    assert calendar().add_business_time("general", sunday, timedelta(minutes=15)) == sh(2026, 3, 9, 9, 15)


def test_add_business_time_skips_holidays() -> None:
    cal = calendar(holidays=[date(2026, 3, 9)])
    assert cal.add_business_time("general", sh(2026, 3, 6, 18, 30), timedelta(hours=1)) == sh(2026, 3, 10, 10, 0)


def test_add_business_time_returns_in_the_callers_zone() -> None:
    due = calendar().add_business_time("general", datetime(2026, 3, 4, 2, 0, tzinfo=UTC), timedelta(hours=1))
    assert due.tzinfo is UTC and due == datetime(2026, 3, 4, 3, 0, tzinfo=UTC)


def test_business_time_between_counts_only_open_hours() -> None:
    cal = calendar()
    assert cal.business_time_between("general", sh(2026, 3, 6, 17, 0), sh(2026, 3, 9, 10, 30)) == timedelta(hours=2.5)
    assert cal.business_time_between("general", sh(2026, 3, 7, 0, 0), sh(2026, 3, 8, 23, 0)) == timedelta(0)
    assert cal.business_time_between("general", sh(2026, 3, 9, 10, 30), sh(2026, 3, 6, 17, 0)) == -timedelta(hours=2.5)


def test_add_and_between_agree() -> None:
    cal = calendar(holidays=[date(2026, 3, 10)])
    start = sh(2026, 3, 6, 16, 20)
    for minutes in (1, 40, 100, 540, 541, 2000):
        due = cal.add_business_time("general", start, timedelta(minutes=minutes))
        assert cal.business_time_between("general", start, due) == timedelta(minutes=minutes)


def test_several_intervals_a_day_and_a_full_day() -> None:
    config = BusinessHoursSettings(
        timezone="Asia/Singapore", weekly={"mon": ["09:00-12:00", "13:00-18:00"], "sat": ["00:00-24:00"]}
    )
    cal = BusinessCalendar.from_config({"q": config})
    sg = ZoneInfo("Asia/Singapore")
    assert not cal.in_business_hours("q", datetime(2026, 3, 9, 12, 30, tzinfo=sg))  # lunch
    assert cal.add_business_time("q", datetime(2026, 3, 9, 11, 0, tzinfo=sg), timedelta(hours=2)) == datetime(
        2026, 3, 9, 14, 0, tzinfo=sg
    )
    assert cal.in_business_hours("q", datetime(2026, 3, 14, 23, 59, tzinfo=sg))


def test_dst_day_is_counted_in_real_time() -> None:
    config = BusinessHoursSettings(timezone="Europe/London", weekly={"sun": ["00:00-24:00"]})
    cal = BusinessCalendar.from_config({"q": config})
    london = ZoneInfo("Europe/London")
    # 29 March 2026: clocks go forward, so that Sunday has 23 hours.
    day = cal.business_time_between(
        "q", datetime(2026, 3, 28, 12, 0, tzinfo=london), datetime(2026, 3, 30, 12, 0, tzinfo=london)
    )
    assert day == timedelta(hours=23)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        calendar().in_business_hours("general", datetime(2026, 3, 4, 10, 0))


def test_settings_reject_bad_zone_and_intervals() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        BusinessHoursSettings(timezone="Mars/Olympus", weekly={"mon": ["09:00-18:00"]})
    with pytest.raises(ValidationError, match="not an interval"):
        BusinessHoursSettings(weekly={"mon": ["18:00-09:00"]})
    with pytest.raises(ValidationError, match="no opening hours"):
        BusinessHoursSettings(weekly={"mon": []})
    assert parse_interval("00:00-24:00") == (0, 1440)


def test_default_settings_close_general_on_national_day_and_keep_security_open() -> None:
    settings: Settings = load_settings(ROOT / "settings.toml")
    cal = BusinessCalendar.from_settings(settings)
    assert not cal.in_business_hours("general", sh(2026, 10, 2, 10, 0))
    assert cal.in_business_hours("general", sh(2026, 10, 10, 10, 0))  # Saturday make-up day
    assert cal.in_business_hours("security", sh(2026, 10, 2, 3, 0))
