"""SLA targets per category and priority, their due times, and whether an item is at risk or breached.

Targets come from `[sla]` (per priority) with per-category overrides (`[sla.categories.<name>]`). Where business
hours apply (`business_hours = true`, the default), a target counts only the queue's open hours (router/hours.py),
so a 4-hour target set on Friday at 17:00 falls due on Monday at 12:00. A priority without a target has no due time.

The clock starts when the customer's message was received and is measured against the priority the router gave
it: a later promotion for waiting (workers/scheduler.py) does not shorten a target already running.
Pure: no I/O, nothing but `core` and router/hours.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.envelope import Priority
from core.settings import Settings
from core.timing_settings import SlaSettings
from router.hours import BusinessCalendar


class SlaKind(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class SlaState(StrEnum):
    OK = "ok"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    NONE = "none"  # no target for this category and priority


@dataclass(frozen=True)
class SlaStatus:
    state: SlaState
    due: datetime | None
    target: timedelta | None
    elapsed: timedelta  # business time since received, where business hours apply

    @property
    def at_risk(self) -> bool:
        return self.state is SlaState.AT_RISK

    @property
    def breached(self) -> bool:
        return self.state is SlaState.BREACHED


class SlaPolicy:
    def __init__(self, config: SlaSettings, calendar: BusinessCalendar) -> None:
        self.config = config
        self.calendar = calendar

    @classmethod
    def from_settings(cls, settings: Settings, calendar: BusinessCalendar | None = None) -> SlaPolicy:
        return cls(settings.sla, calendar or BusinessCalendar.from_settings(settings))

    # ---- targets -----------------------------------------------------------------------------------------------

    def target(self, kind: SlaKind, category: str, priority: Priority) -> timedelta | None:
        override = self.config.categories.get(category)
        field = f"{kind.value}_minutes"
        own: dict[Priority, int] = getattr(override, field) if override else {}
        minutes = own.get(priority, getattr(self.config, field).get(priority))
        return timedelta(minutes=minutes) if minutes is not None else None

    def uses_business_hours(self, category: str) -> bool:
        override = self.config.categories.get(category)
        if override is not None and override.business_hours is not None:
            return override.business_hours
        return self.config.business_hours

    def shortest_target(self, kind: SlaKind = SlaKind.FIRST_RESPONSE) -> timedelta | None:
        """The smallest target anywhere: nothing received more recently than this can be breached yet."""
        field = f"{kind.value}_minutes"
        values = [*getattr(self.config, field).values()]
        for override in self.config.categories.values():
            values += getattr(override, field).values()
        return timedelta(minutes=min(values)) if values else None

    # ---- due times ---------------------------------------------------------------------------------------------

    def due(
        self, kind: SlaKind, category: str, priority: Priority, queue: str, received_at: datetime
    ) -> datetime | None:
        target = self.target(kind, category, priority)
        if target is None:
            return None
        if self.uses_business_hours(category):
            return self.calendar.add_business_time(queue, received_at, target)
        return received_at + target

    def first_response_due(
        self, category: str, priority: Priority, queue: str, received_at: datetime
    ) -> datetime | None:
        return self.due(SlaKind.FIRST_RESPONSE, category, priority, queue, received_at)

    def resolution_due(self, category: str, priority: Priority, queue: str, received_at: datetime) -> datetime | None:
        return self.due(SlaKind.RESOLUTION, category, priority, queue, received_at)

    # ---- state at a given time ---------------------------------------------------------------------------------

    def elapsed(self, category: str, queue: str, received_at: datetime, now: datetime) -> timedelta:
        if self.uses_business_hours(category):
            return self.calendar.business_time_between(queue, received_at, now)
        return now - received_at

    def status(
        self,
        category: str,
        priority: Priority,
        queue: str,
        received_at: datetime,
        now: datetime,
        kind: SlaKind = SlaKind.FIRST_RESPONSE,
    ) -> SlaStatus:
        target = self.target(kind, category, priority)
        elapsed = self.elapsed(category, queue, received_at, now)
        if target is None:
            return SlaStatus(SlaState.NONE, None, None, elapsed)
        due = self.due(kind, category, priority, queue, received_at)
        if elapsed >= target:  # compared in business time: the due instant itself is already late
            state = SlaState.BREACHED
        elif elapsed >= target * self.config.at_risk_ratio:
            state = SlaState.AT_RISK
        else:
            state = SlaState.OK
        return SlaStatus(state, due, target, elapsed)

    def at_risk(self, category: str, priority: Priority, queue: str, received_at: datetime, now: datetime) -> bool:
        return self.status(category, priority, queue, received_at, now).at_risk

    def breached(self, category: str, priority: Priority, queue: str, received_at: datetime, now: datetime) -> bool:
        return self.status(category, priority, queue, received_at, now).breached

    def outcome(
        self, kind: SlaKind, category: str, priority: Priority, queue: str, received_at: datetime, at: datetime
    ) -> str:
        """How long a first response or a resolution took and whether it met its target, for a message's notes:
        "after 1h05m of business time (resolution target 8h00m: met)"."""
        status = self.status(category, priority, queue, received_at, at, kind)
        took = format_duration(status.elapsed) + (" of business time" if self.uses_business_hours(category) else "")
        label = kind.value.replace("_", "-")
        if status.target is None:
            return f"after {took} (no {label} target)"
        return f"after {took} ({label} target {format_duration(status.target)}: {'late' if status.breached else 'met'})"


def format_duration(delta: timedelta, *, days: bool = False) -> str:
    """`12m`, `2h05m`: whole minutes, rounded down; with `days`, a day or more as `3d04h` (whole hours)."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if days and minutes >= 24 * 60:
        return f"{minutes // 1440}d{minutes % 1440 // 60:02d}h"
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
