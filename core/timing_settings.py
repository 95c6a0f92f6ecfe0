"""The timing sections of settings.toml: `[hours]`, `[sla]`, `[scheduler]` and `[notices]`.

This module only describes and validates them; router/hours.py, router/sla.py, workers/scheduler.py and
core/notices.py do the work. Durations are whole minutes so an environment override stays a plain number
(`HELPLINE_SLA__FIRST_RESPONSE_MINUTES__URGENT=10`).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PositiveInt, field_validator, model_validator

from core.envelope import Priority
from core.settings_base import Section

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
_INTERVAL = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")


def parse_interval(text: str) -> tuple[int, int]:
    """`"09:00-18:00"` -> minutes after midnight `(540, 1080)`. `24:00` may end a day; overnight spans are two days."""
    m = _INTERVAL.match(text.strip())
    if m:
        start, end = int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])
        if start < end <= 24 * 60:
            return start, end
    raise ValueError(f"{text!r} is not an interval like '09:00-18:00' (start before end, end at most 24:00)")


def check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name like 'Asia/Shanghai'") from None
    return name


class DeskSettings(Section):
    """The desk as a whole: what its reports count in."""

    timezone: str = Field("UTC", description="IANA time zone report periods (days, weeks, months) are cut in")
    report_timeout_seconds: float = Field(60.0, gt=0, description="longest a report's query may run")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        return check_zone(name)


class BusinessHoursSettings(Section):
    """One queue's opening hours. A queue left out of `[hours]` is open 24/7."""

    timezone: str = Field("UTC", description="IANA time zone the hours and dates are in")
    weekly: dict[Weekday, list[str]] = Field(default_factory=dict, description='open intervals, e.g. ["09:00-18:00"]')
    holidays: list[date] = Field(default_factory=list, description="dates closed all day")
    workdays: list[date] = Field(default_factory=list, description="make-up working days (调休), open Monday's hours")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        return check_zone(name)

    @field_validator("weekly")
    @classmethod
    def _intervals(cls, weekly: dict[Weekday, list[str]]) -> dict[Weekday, list[str]]:
        for spans in weekly.values():
            for span in spans:
                parse_interval(span)
        if not any(weekly.values()):
            # A calendar that is never open would make every due time infinite.
            raise ValueError("no opening hours at all; leave the queue out of [hours] to make it 24/7")
        return weekly


class SlaOverride(Section):
    """A category's own targets; a priority left out uses the `[sla]` default."""

    first_response_minutes: dict[Priority, PositiveInt] = Field(default_factory=dict)
    resolution_minutes: dict[Priority, PositiveInt] = Field(default_factory=dict)
    business_hours: bool | None = Field(None, description="unset: as [sla].business_hours")


def _minutes(urgent: int, high: int, normal: int, low: int) -> dict[Priority, int]:
    return {Priority.URGENT: urgent, Priority.HIGH: high, Priority.NORMAL: normal, Priority.LOW: low}


class SlaSettings(Section):
    business_hours: bool = Field(True, description="count targets in the queue's business hours")
    at_risk_ratio: float = Field(0.75, gt=0, lt=1, description="at risk once this share of the target has passed")
    first_response_minutes: dict[Priority, PositiveInt] = Field(
        default_factory=lambda: _minutes(15, 60, 240, 1440), description="first-response target per priority"
    )
    resolution_minutes: dict[Priority, PositiveInt] = Field(
        default_factory=lambda: _minutes(240, 480, 1440, 4320), description="resolution target per priority"
    )
    categories: dict[str, SlaOverride] = Field(default_factory=dict, description="per-category overrides")
    throughput_window_minutes: int = Field(120, gt=0, description="recent takes the reply ETA is based on")


class SchedulerSettings(Section):
    interval_seconds: float = Field(30.0, gt=0, description="how often the scheduler escalates and promotes")
    raise_to_after_minutes: dict[Priority, PositiveInt] = Field(
        default_factory=lambda: {Priority.NORMAL: 240, Priority.HIGH: 720},
        description="an inbox item that has waited this long is raised to at least this priority",
    )
    escalation_queue: str = Field("escalations", description="where waiting items past their first-response SLA go")
    notify_addresses: list[str] = Field(
        default_factory=list, description="supervisors emailed (through the outbound relay) on each SLA breach"
    )
    notify_job: str | None = Field(
        "workers.jobs.notify_escalation",
        description="RQ job called with (message_id, reason) on each breach; the default emails notify_addresses",
    )


class NoticeSpec(Section):
    """A notice written in settings.toml; one text serves both languages."""

    text_en: str | None = None
    text_zh: str | None = None
    starts: datetime | None = None
    until: datetime

    @model_validator(mode="after")
    def _one_text(self) -> NoticeSpec:
        if not (self.text_en or self.text_zh):
            raise ValueError("a notice needs text_en or text_zh (one text serves both languages)")
        return self


class NoticesSettings(Section):
    timezone: str = Field("Asia/Shanghai", description="zone of notice times written without an offset")
    items: list[NoticeSpec] = Field(
        default_factory=list, description="[[notices.items]]: text_en, text_zh, starts, until"
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        return check_zone(name)
