"""Business hours per queue: when a queue is staffed, and business time between two instants.

Each queue in `[hours]` has a time zone, weekly open intervals, holidays (closed all day) and make-up working days
(调休: a weekend day worked instead of a holiday, open with Monday's hours). A queue left out is open 24/7, so its
business time is wall-clock time.

All instants in and out are timezone-aware datetimes; a naive one is refused rather than guessed. Local wall-clock
intervals are turned into real instants per day, so a day that is 23 or 25 hours long (DST) counts correctly.
Pure: no I/O, nothing but `core`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.settings import Settings
from core.timing_settings import WEEKDAYS, BusinessHoursSettings, parse_interval

# A calendar is validated to be open at least once a week, so any duration ends within this many days (a safety net
# against a year of holidays listed by mistake, not a limit anyone should meet).
_SEARCH_DAYS = 3 * 366

Span = tuple[int, int]  # minutes after local midnight, start < end <= 1440


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()}: pass a timezone-aware one")
    return at


@dataclass(frozen=True)
class QueueHours:
    """One queue's compiled opening hours."""

    zone: ZoneInfo
    weekly: tuple[tuple[Span, ...], ...]  # seven entries, Monday first
    holidays: frozenset[date]
    workdays: frozenset[date]

    @classmethod
    def from_config(cls, config: BusinessHoursSettings) -> QueueHours:
        weekly = tuple(tuple(sorted(parse_interval(span) for span in config.weekly.get(day, []))) for day in WEEKDAYS)
        return cls(ZoneInfo(config.timezone), weekly, frozenset(config.holidays), frozenset(config.workdays))

    def spans_on(self, day: date) -> tuple[Span, ...]:
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.weekly[0]
        return self.weekly[day.weekday()]

    def open_spans(self, start: datetime, end: datetime | None = None) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals (UTC) overlapping [start, end), clipped to it, in order; endless when `end` is None."""
        day = start.astimezone(self.zone).date() - timedelta(days=1)  # an earlier day may not reach `start`: clipped
        last = end.astimezone(self.zone).date() if end else day + timedelta(days=_SEARCH_DAYS)
        while day <= last:
            midnight = datetime.combine(day, time(0), tzinfo=self.zone)
            for lo, hi in self.spans_on(day):
                # Wall-clock arithmetic on the local midnight, then to UTC: right on DST change days too.
                opens = (midnight + timedelta(minutes=lo)).astimezone(UTC)
                closes = (midnight + timedelta(minutes=hi)).astimezone(UTC)
                opens, closes = max(opens, start), min(closes, end) if end else closes
                if opens < closes:
                    yield opens, closes
            day += timedelta(days=1)
        if end is None:
            raise ValueError(f"no opening hours within {_SEARCH_DAYS} days")


class BusinessCalendar:
    """Business hours of every queue; queues without an entry are open 24/7."""

    def __init__(self, hours: Mapping[str, QueueHours] | None = None) -> None:
        self.hours = dict(hours or {})

    @classmethod
    def from_config(cls, config: Mapping[str, BusinessHoursSettings]) -> BusinessCalendar:
        return cls({queue: QueueHours.from_config(entry) for queue, entry in config.items()})

    @classmethod
    def from_settings(cls, settings: Settings) -> BusinessCalendar:
        return cls.from_config(settings.hours)

    def zone(self, queue: str) -> ZoneInfo | None:
        entry = self.hours.get(queue)
        return entry.zone if entry else None

    def in_business_hours(self, queue: str, at: datetime) -> bool:
        entry = self.hours.get(queue)
        if entry is None:
            return True
        local = _aware(at).astimezone(entry.zone)
        minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60e6
        return any(lo <= minute < hi for lo, hi in entry.spans_on(local.date()))

    def add_business_time(self, queue: str, start: datetime, duration: timedelta) -> datetime:
        """The instant when `duration` of business time has passed after `start` (in `start`'s time zone)."""
        if duration < timedelta(0):
            raise ValueError("duration must not be negative")
        entry = self.hours.get(queue)
        if entry is None or duration == timedelta(0):
            return _aware(start) + duration
        left = duration
        for opens, closes in entry.open_spans(_aware(start)):
            if closes - opens >= left:
                return (opens + left).astimezone(start.tzinfo)
            left -= closes - opens
        raise AssertionError("unreachable: open_spans raises when it finds nothing")  # pragma: no cover

    def business_time_between(self, queue: str, a: datetime, b: datetime) -> timedelta:
        """Business time from `a` to `b`; negative when `b` is before `a`."""
        if _aware(b) < _aware(a):
            return -self.business_time_between(queue, b, a)
        entry = self.hours.get(queue)
        if entry is None:
            return b - a
        return sum((closes - opens for opens, closes in entry.open_spans(a, b)), timedelta(0))
