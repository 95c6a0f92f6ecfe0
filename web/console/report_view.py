"""The reports page's tables and charts, shaped from record/reports.py's figures (pure: no I/O).

Tables keep every period and queue; charts add periods up (a chart per breakdown, per queue), since a chart of
every period of every queue is one nobody reads. Times are shown as "1 h 30 min"; shares as "75%".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from record.reports import Figure
from web.console.i18n import channel_name

Translate = Callable[[str], str]


@dataclass
class ReportView:
    by_channel: list[tuple[str, str, str, int]] = field(default_factory=list)  # period, queue, channel, messages
    by_category: list[tuple[str, str, str, int]] = field(default_factory=list)
    times: list[dict[str, str]] = field(default_factory=list)  # one per (period, queue)
    service: list[dict[str, str]] = field(default_factory=list)
    corrections: list[tuple[str, str, int]] = field(default_factory=list)  # from, to, times (all queues)
    charts: dict[str, Any] = field(default_factory=dict)
    whole_range: bool = True  # one period (the range): tables leave the period column out

    @property
    def channels(self) -> list[str]:
        return sorted({channel for _, _, channel, _ in self.by_channel})

    @property
    def channel_table(self) -> list[tuple[str, str, list[int], int]]:
        """One row per period and queue: messages per channel (in `channels`' order), and their total."""
        counts: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        for period, queue, channel, n in self.by_channel:
            counts[(period, queue)][channel] = n
        return [
            (period, queue, [row.get(c, 0) for c in self.channels], sum(row.values()))
            for (period, queue), row in sorted(counts.items())
        ]

    @property
    def empty(self) -> bool:
        return not (self.by_channel or self.times or self.service or self.corrections)


def build(figures: list[Figure], t: Translate, *, whole_range: bool = True) -> ReportView:
    view = ReportView(whole_range=whole_range)
    measures: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    corrections: dict[tuple[str, str], int] = defaultdict(int)
    for f in figures:
        if f.measure == "volume":
            kind, _, value = f.by.partition("=")
            row = (f.period, f.queue, value, int(f.value))
            (view.by_channel if kind == "channel" else view.by_category).append(row)
        elif f.measure == "corrections":
            pair = dict(part.split("=", 1) for part in f.by.split(",") if "=" in part)
            corrections[(pair.get("from", "-"), pair.get("to", "-"))] += int(f.value)
        else:
            measures[(f.period, f.queue)][f.measure] = f.value
    for (period, queue), m in sorted(measures.items()):
        if any(key.startswith(("first_response", "resolution")) for key in m):
            view.times.append({
                "period": period, "queue": queue,
                "fr_median": duration(m.get("first_response_median_seconds"), t),
                "fr_p90": duration(m.get("first_response_p90_seconds"), t),
                "fr_cases": count(m.get("first_response_cases")),
                "res_median": duration(m.get("resolution_median_seconds"), t),
                "res_p90": duration(m.get("resolution_p90_seconds"), t),
                "res_cases": count(m.get("resolution_cases")),
            })  # fmt: skip
        if any(key.startswith(("sla_", "csat_")) for key in m):
            view.service.append({
                "period": period, "queue": queue,
                "sla_first_response": share(m.get("sla_first_response_attainment")),
                "sla_resolution": share(m.get("sla_resolution_attainment")),
                "csat": share(m.get("csat_share")),
                "ratings": count(m.get("csat_ratings")),
            })  # fmt: skip
    view.corrections = sorted(((a, b, n) for (a, b), n in corrections.items()), key=lambda r: (-r[2], r[0], r[1]))
    view.charts = _charts(view, measures, t)
    return view


def _charts(view: ReportView, measures: dict[tuple[str, str], dict[str, float]], t: Translate) -> dict[str, Any]:
    """Chart.js configurations' data parts, read by static/console.js."""
    queues = sorted({q for _, q, _, _ in view.by_channel} | {q for _, q in measures})
    channels = sorted({c for _, _, c, _ in view.by_channel})
    per_channel: dict[tuple[str, str], int] = defaultdict(int)
    for _, queue, channel, n in view.by_channel:
        per_channel[(queue, channel)] += n
    per_category: dict[str, int] = defaultdict(int)
    for _, _, category, n in view.by_category:
        per_category[category] += n
    minutes: dict[str, dict[str, float]] = defaultdict(dict)
    for (_, queue), m in measures.items():  # with periods, each queue's last period's figure is the one shown
        for key in ("first_response_median_seconds", "resolution_median_seconds"):
            if key in m:
                minutes[key][queue] = round(m[key] / 60, 1)
    return {
        "by_channel": {
            "labels": queues,
            "datasets": [
                {"label": channel_name(t, c), "data": [per_channel.get((q, c), 0) for q in queues]} for c in channels
            ],
        },
        "by_category": {
            "labels": sorted(per_category, key=lambda c: -per_category[c]),
            "datasets": [{"label": t("messages"), "data": sorted(per_category.values(), reverse=True)}],
        },
        "times": {
            "labels": queues,
            "datasets": [
                {"label": f"{t(name)} ({t('unit_min')})", "data": [minutes[f"{name}_seconds"].get(q) for q in queues]}
                for name in ("first_response_median", "resolution_median")
            ],
        },
        "corrections": {
            "labels": [f"{a} → {b}" for a, b, _ in view.corrections],
            "datasets": [{"label": t("times"), "data": [n for _, _, n in view.corrections]}],
        },
    }


def duration(seconds: float | None, t: Translate) -> str:
    """The two largest units: `45 s`, `5 min`, `1 h 30 min`, `25 h 0 min`; `–` for no figure."""
    if seconds is None:
        return "–"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} {t('unit_h')} {minutes} {t('unit_min')}"
    if minutes:
        return f"{minutes} {t('unit_min')}" + (f" {secs} {t('unit_s')}" if secs else "")
    return f"{secs} {t('unit_s')}"


def share(value: float | None) -> str:
    if value is None:
        return "–"
    percent = round(value * 100, 1)
    return f"{percent:g}%"


def count(value: float | None) -> str:
    return "–" if value is None else str(int(value))
