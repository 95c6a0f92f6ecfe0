from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from core.envelope import Priority
from core.settings import Settings
from core.store import Store
from tests.support.cases import file_case
from workers.eta import describe, expected_response, record_take, takes

SH = ZoneInfo("Asia/Shanghai")
WEDNESDAY_NOON = datetime(2026, 3, 4, 12, 0, tzinfo=SH)


def fill(store: Store, queue: str, priority: Priority, count: int, at: datetime) -> None:
    for i in range(count):
        file_case(store, queue, priority, f"{queue}-{priority.value}-{i}", at - timedelta(minutes=i))


def done(store: Store, queue: str, count: int, now: datetime, over: timedelta) -> None:
    for i in range(count):
        record_take(store, queue, now - over * (i + 0.5) / count)


def test_no_throughput_falls_back_to_the_sla_target(settings: Settings, store: Store) -> None:
    eta = expected_response(settings, store, "security", Priority.URGENT, WEDNESDAY_NOON, category="security")
    assert eta.basis == "sla"
    assert eta.delta == timedelta(minutes=10)  # [sla.categories.security] urgent = 10
    assert (eta.text_en, eta.text_zh) == ("within 10 minutes", "10分钟内")


def test_depth_and_throughput_give_the_estimate(settings: Settings, store: Store) -> None:
    done(store, "wallet", 12, WEDNESDAY_NOON, timedelta(hours=2))  # 6 an hour; "wallet" is open 24/7
    fill(store, "wallet", Priority.NORMAL, 3, WEDNESDAY_NOON)
    fill(store, "wallet", Priority.LOW, 50, WEDNESDAY_NOON)  # agents take these after ours: not counted
    eta = expected_response(settings, store, "wallet", Priority.NORMAL, WEDNESDAY_NOON, category="wallet")
    assert eta.basis == "throughput"
    assert eta.delta == timedelta(minutes=30)
    assert eta.text("en") == "within 30 minutes"


def test_estimate_is_bounded_by_the_sla(settings: Settings, store: Store) -> None:
    done(store, "wallet", 2, WEDNESDAY_NOON, timedelta(hours=2))  # 1 an hour
    fill(store, "wallet", Priority.HIGH, 40, WEDNESDAY_NOON)
    eta = expected_response(settings, store, "wallet", Priority.NORMAL, WEDNESDAY_NOON, category="wallet")
    assert eta.delta == timedelta(hours=4)  # normal first response target, not 41 hours
    assert (eta.text_en, eta.text_zh) == ("within about 4 hours", "约4小时内")


def test_a_fast_desk_never_promises_less_than_five_minutes(settings: Settings, store: Store) -> None:
    done(store, "wallet", 120, WEDNESDAY_NOON, timedelta(hours=2))
    eta = expected_response(settings, store, "wallet", Priority.URGENT, WEDNESDAY_NOON, category="wallet")
    assert eta.delta == timedelta(minutes=5)


def test_closed_queue_promises_a_time_after_opening(settings: Settings, store: Store) -> None:
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=SH)
    eta = expected_response(settings, store, "general", Priority.URGENT, saturday, category="general")
    assert eta.delta == datetime(2026, 3, 9, 9, 15, tzinfo=SH) - saturday
    assert eta.text_en == "by Monday 9 March, 09:15 (China time)"
    assert eta.text_zh == "3月9日（周一）09:15（北京时间）前"


def test_throughput_counts_business_hours_only(settings: Settings, store: Store) -> None:
    monday_0930 = datetime(2026, 3, 9, 9, 30, tzinfo=SH)
    # Three done in the first half hour after opening: 6 per business hour, though the 2-hour window is mostly night.
    for minutes in (5, 15, 25):
        record_take(store, "general", monday_0930 - timedelta(minutes=minutes))
    fill(store, "general", Priority.NORMAL, 2, monday_0930)
    eta = expected_response(settings, store, "general", Priority.NORMAL, monday_0930, category="general")
    assert eta.basis == "throughput" and eta.delta == timedelta(minutes=20)


def test_takes_are_trimmed_after_two_days(store: Store) -> None:
    now = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    record_take(store, "q", now - timedelta(days=3))
    record_take(store, "q", now)
    assert takes(store, "q", now - timedelta(days=10), now) == 1


def test_describe_rounds_up() -> None:
    due = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    assert describe(timedelta(minutes=11), due, SH) == ("within 15 minutes", "15分钟内")
    assert describe(timedelta(minutes=60), due, SH) == ("within an hour", "1小时内")
    assert describe(timedelta(minutes=61), due, SH) == ("within about 2 hours", "约2小时内")
    far = describe(timedelta(hours=20), datetime(2026, 3, 5, 1, 1, 30, tzinfo=UTC), ZoneInfo("Asia/Singapore"))
    assert far == ("by Thursday 5 March, 09:15 (Singapore time)", "3月5日（周四）09:15（新加坡时间）前")


def test_acknowledgement_templates_carry_eta_missing_details_warning_and_notices() -> None:
    from templates import render

    base = {"reference": "HL-9F3A2C1D", "subject": "", "name": "", "team": "Top-up team", "signature": "Wallet"}
    en = render(
        "acknowledgement",
        "email",
        "en",
        {
            **base,
            "eta_text": "within 20 minutes",
            "missing_details": ["the amount and currency"],
            "sensitive_warning": True,
            "notices": ["Bank top-ups are delayed."],
        },
    ).text
    assert "we expect to reply within 20 minutes." in en
    assert "- the amount and currency" in en
    assert "Never share these with anyone" in en
    assert "Please note: Bank top-ups are delayed." in en
    zh = render(
        "acknowledgement",
        "email",
        "zh",
        {**base, "eta_text": "20分钟内", "missing_details": [], "sensitive_warning": False, "notices": []},
    ).text
    assert "预计20分钟内回复您" in zh
    assert "请回复以下信息" not in zh and "【通知】" not in zh
    assert "我们绝不会向您索要密码" in zh
