from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from core.envelope import Priority
from core.settings import load_settings
from core.timing_settings import BusinessHoursSettings, SlaSettings
from router.hours import BusinessCalendar
from router.sla import SlaKind, SlaPolicy, SlaState
from tests.conftest import ROOT

SH = ZoneInfo("Asia/Shanghai")
FRIDAY_5PM = datetime(2026, 3, 6, 17, 0, tzinfo=SH)


def policy(**sla: object) -> SlaPolicy:
    weekly = {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
    hours = BusinessHoursSettings(timezone="Asia/Shanghai", weekly=weekly)
    return SlaPolicy(SlaSettings.model_validate(sla), BusinessCalendar.from_config({"general": hours}))


def test_default_targets_per_priority() -> None:
    p = policy()
    assert p.target(SlaKind.FIRST_RESPONSE, "general", Priority.URGENT) == timedelta(minutes=15)
    assert p.target(SlaKind.FIRST_RESPONSE, "general", Priority.LOW) == timedelta(hours=24)
    assert p.target(SlaKind.RESOLUTION, "general", Priority.HIGH) == timedelta(hours=8)


def test_due_counts_business_hours_of_the_queue() -> None:
    p = policy()
    assert p.first_response_due("general", Priority.NORMAL, "general", FRIDAY_5PM) == datetime(
        2026, 3, 9, 12, 0, tzinfo=SH
    )
    # A 24/7 queue counts wall-clock time.
    assert p.first_response_due("security", Priority.NORMAL, "security", FRIDAY_5PM) == FRIDAY_5PM + timedelta(hours=4)


def test_category_override_of_target_and_business_hours() -> None:
    p = policy(categories={"payment": {"first_response_minutes": {"normal": 30}, "business_hours": False}})
    assert p.first_response_due("payment", Priority.NORMAL, "general", FRIDAY_5PM) == FRIDAY_5PM + timedelta(minutes=30)
    # Priorities the override leaves out keep the defaults.
    assert p.target(SlaKind.FIRST_RESPONSE, "payment", Priority.HIGH) == timedelta(hours=1)


def test_wall_clock_when_business_hours_are_off() -> None:
    p = policy(business_hours=False)
    assert p.first_response_due("general", Priority.HIGH, "general", FRIDAY_5PM) == FRIDAY_5PM + timedelta(hours=1)


def test_priority_without_target_has_no_due_time() -> None:
    p = policy(first_response_minutes={"urgent": 15})
    assert p.first_response_due("general", Priority.LOW, "general", FRIDAY_5PM) is None
    assert p.status("general", Priority.LOW, "general", FRIDAY_5PM, FRIDAY_5PM + timedelta(days=30)).state is (
        SlaState.NONE
    )


def test_ok_at_risk_and_breached() -> None:
    p = policy(at_risk_ratio=0.75)
    received = datetime(2026, 3, 9, 10, 0, tzinfo=SH)  # Monday; normal target 4 business hours
    assert p.status("general", Priority.NORMAL, "general", received, received + timedelta(hours=2)).state is SlaState.OK
    assert p.at_risk("general", Priority.NORMAL, "general", received, received + timedelta(hours=3))
    assert not p.breached("general", Priority.NORMAL, "general", received, received + timedelta(hours=3))
    late = p.status("general", Priority.NORMAL, "general", received, received + timedelta(hours=4, minutes=1))
    assert late.breached and late.due == datetime(2026, 3, 9, 14, 0, tzinfo=SH)


def test_the_weekend_does_not_breach_a_business_hours_target() -> None:
    p = policy()
    monday_8am = datetime(2026, 3, 9, 8, 0, tzinfo=SH)
    status = p.status("general", Priority.NORMAL, "general", FRIDAY_5PM, monday_8am)
    assert status.state is SlaState.OK and status.elapsed == timedelta(hours=1)


def test_shortest_target_looks_at_overrides() -> None:
    p = policy(categories={"security": {"first_response_minutes": {"urgent": 5}}})
    assert p.shortest_target() == timedelta(minutes=5)


def test_default_settings_security_is_wall_clock_and_faster() -> None:
    settings = load_settings(ROOT / "settings.toml")
    p = SlaPolicy.from_settings(settings)
    saturday = datetime(2026, 3, 7, 3, 0, tzinfo=UTC)
    assert p.first_response_due("security", Priority.URGENT, "general", saturday) == saturday + timedelta(minutes=10)
    assert p.first_response_due("general", Priority.URGENT, "general", saturday) == datetime(
        2026, 3, 9, 9, 15, tzinfo=SH
    )


def test_outcome_says_how_long_it_took_and_whether_it_met_the_target() -> None:
    p = policy()
    monday_1pm = datetime(2026, 3, 9, 13, 0, tzinfo=SH)  # 1 + 4 business hours after Friday 17:00
    assert (
        p.outcome(SlaKind.FIRST_RESPONSE, "general", Priority.NORMAL, "general", FRIDAY_5PM, monday_1pm)
        == "after 5h00m of business time (first-response target 4h00m: late)"
    )
    assert (
        p.outcome(SlaKind.RESOLUTION, "general", Priority.NORMAL, "general", FRIDAY_5PM, monday_1pm)
        == "after 5h00m of business time (resolution target 24h00m: met)"
    )
    wall = policy(business_hours=False, first_response_minutes={"urgent": 15})
    assert (
        wall.outcome(SlaKind.FIRST_RESPONSE, "x", Priority.LOW, "x", FRIDAY_5PM, FRIDAY_5PM + timedelta(minutes=7))
        == "after 7m (no first-response target)"
    )
