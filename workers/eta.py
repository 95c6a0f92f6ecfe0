"""The expected response time an acknowledgement promises, from the queue's depth, its throughput and its SLA.

    position   items an agent will take before this one: the queue's waiting items at this priority or a more
               urgent one (agents take the most urgent priority first; core/inbox.py), at least 1
    rate       items taken per hour of business time, from `throughput:{queue}` (a zset of the times agents took
               items, fed by `record_take`)
    estimate   position / rate, in business time, never more than the SLA's first-response target (the desk
               commits to the target, and escalation enforces it) and never less than 5 minutes
    due        now + estimate counted in the queue's business hours, so a message on Saturday is told Monday

With no recent takes the target itself is the estimate; with neither, the default priority target is.
The text is rounded up (to 5 minutes, or to the hour): a reply earlier than promised is fine, a later one is not.
Far-off times are given as a date and time in the queue's zone (24/7 queues: `[notices].timezone`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.envelope import Priority
from core.inbox import Inbox
from core.language import reply_language
from core.settings import Settings
from core.store import Store
from core.throughput import record_take as record_take  # re-exported for the tests and the bench
from core.throughput import takes as takes
from router.hours import BusinessCalendar
from router.sla import SlaKind, SlaPolicy

MIN_ESTIMATE = timedelta(minutes=5)
RELATIVE_UP_TO = timedelta(hours=8)  # beyond this a clock time reads better than "within 19 hours"
FALLBACK_TARGET = timedelta(hours=4)

_ZONE_NAMES = {
    "Asia/Shanghai": ("China time", "北京时间"),
    "Asia/Hong_Kong": ("Hong Kong time", "香港时间"),
    "Asia/Singapore": ("Singapore time", "新加坡时间"),
    "Asia/Kuala_Lumpur": ("Malaysia time", "马来西亚时间"),
    "Asia/Taipei": ("Taipei time", "台北时间"),
    "UTC": ("UTC", "UTC"),
}
_WEEKDAYS_ZH = "一二三四五六日"


@dataclass(frozen=True)
class Eta:
    delta: timedelta
    text_en: str
    text_zh: str
    basis: str = "throughput"  # or "sla" when there is no recent throughput to go by

    def text(self, language: str) -> str:
        return self.text_zh if reply_language(language) == "zh" else self.text_en


def hourly_rate(
    settings: Settings, store: Store, calendar: BusinessCalendar, queue: str, now: datetime
) -> float | None:
    """Items per business hour over the recent window; None when there is nothing to go by."""
    window = timedelta(minutes=settings.sla.throughput_window_minutes)
    for lookback in (window, max(window, timedelta(days=1))):  # just opened: look back over the last day
        since = now - lookback
        open_time = calendar.business_time_between(queue, since, now)
        if open_time >= min(window, lookback) / 4:
            taken = takes(store, queue, since, now)
            return taken / (open_time / timedelta(hours=1)) if taken else None
    return None


def expected_response(
    settings: Settings,
    store: Store,
    queue: str,
    priority: Priority,
    now: datetime,
    *,
    category: str,
    calendar: BusinessCalendar | None = None,
) -> Eta:
    """How long until an agent answers a message of `category` filed now in `queue` at `priority` (the category's
    SLA override, if any, sets the first-response target)."""
    calendar = calendar or BusinessCalendar.from_settings(settings)
    policy = SlaPolicy(settings.sla, calendar)
    target = policy.target(SlaKind.FIRST_RESPONSE, category, priority)
    position = max(1, sum(s.depth for s in Inbox(store).stats(queue, oldest=False) if s.priority.rank <= priority.rank))
    rate = hourly_rate(settings, store, calendar, queue, now)
    if rate:
        estimate, basis = timedelta(hours=position / rate), "throughput"
        if target is not None:
            estimate = min(estimate, target)
    else:
        estimate, basis = target or FALLBACK_TARGET, "sla"
    estimate = max(estimate, MIN_ESTIMATE)
    due = calendar.add_business_time(queue, now, estimate)
    zone = calendar.zone(queue) or ZoneInfo(settings.notices.timezone)
    en, zh = describe(due - now, due, zone)
    return Eta(due - now, en, zh, basis)


def describe(delta: timedelta, due: datetime, zone: ZoneInfo) -> tuple[str, str]:
    """("within 20 minutes", "20分钟内"), ("within about 3 hours", "约3小时内") or a clock time in `zone`."""
    minutes = delta / timedelta(minutes=1)
    if minutes <= 60:
        n = max(5, math.ceil(minutes / 5) * 5)
        return (f"within {n} minutes" if n < 60 else "within an hour"), (f"{n}分钟内" if n < 60 else "1小时内")
    if delta <= RELATIVE_UP_TO:
        hours = math.ceil(minutes / 60)
        return f"within about {hours} hours", f"约{hours}小时内"
    local = (due.astimezone(zone) + timedelta(seconds=59)).replace(second=0, microsecond=0)
    local += timedelta(minutes=(-local.minute) % 15)  # round up to the quarter hour
    name_en, name_zh = _ZONE_NAMES.get(zone.key, (zone.key, zone.key))
    en = f"by {local:%A} {local.day} {local:%B}, {local:%H:%M} ({name_en})"
    zh = f"{local.month}月{local.day}日（周{_WEEKDAYS_ZH[local.weekday()]}）{local:%H:%M}（{name_zh}）前"
    return en, zh
