"""Peak memory of each process of a desk under the mixed load, and what Redis and PostgreSQL hold per message.

The desk of bench/live_desk.py (real `helpline serve smtp|web|scheduler|worker` processes, the default
`workers.count` workers, redis-server with `appendfsync always`, PostgreSQL with fsync on, the record on and
`[retention]` as in settings.toml) takes `MESSAGES` messages at `RATE` msg/s, email, SMS and Telegram in turn, each
from a new customer, and every acknowledgement is awaited.

- Per process: the resident-set high-water mark (`VmHWM` in /proc) after the load, against the resident set of the
  same process idle after start and a short warm-up (the baseline, measured in the same run).
- Redis: `INFO memory` `used_memory` before and after, and a census of every key (`MEMORY USAGE`, `TTL`) by key family:
  what stays for good, what `[retention]` expires after days, and what is gone within a day (RQ's finished jobs).
- PostgreSQL: `pg_total_relation_size` of every table of the record (indexes and TOAST included) before and after.

From those, the sizing of a desk at 10k, 100k and 1M messages a day (also written in the README, Operations).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass

from redis import Redis
from sqlalchemy import text

from bench.live_desk import LiveDesk, cpu_seconds, peak_rss_kib, rss_kib
from bench.support import ROOT
from core.settings import load_settings
from record.engine import engine_for

RATE = 100.0
MESSAGES = 1000
WARM_UP = 12
DAY = 86400
VOLUMES = (10_000, 100_000, 1_000_000)


@dataclass
class Census:
    bytes_by_family: dict[tuple[str, str], int]  # (lifetime, family) -> bytes
    ttl_by_family: dict[str, float]  # family -> longest TTL seen, seconds
    used_memory: int


def _family(key: str) -> str:
    """`hl:msg:m-…` -> `msg` (Helpline's own key families), `rq:job:…` -> `rq:job` (RQ's)."""
    parts = key.split(":")
    if parts[0] == "hl" and len(parts) > 1:
        return parts[1]
    if parts[0] == "rq" and len(parts) > 2:
        return ":".join(parts[:2])
    return key


# RQ's registries (rq:finished:…, rq:failed:…) carry no TTL, but RQ's maintenance drops their entries past the
# jobs' result_ttl (500 s) every 10 minutes: at most this long.
RQ_REGISTRY_SECONDS = 500 + 600
RQ_REGISTRIES = ("rq:finished", "rq:started", "rq:failed", "rq:deferred", "rq:scheduled", "rq:canceled")


def _lifetime(ttl: int) -> str:
    if ttl < 0:
        return "for good"
    return "retention (days)" if ttl > DAY else "short-lived (< 1 day)"


def census(redis: Redis) -> Census:
    sizes: dict[tuple[str, str], int] = defaultdict(int)
    ttls: dict[str, float] = defaultdict(float)
    for raw_key in redis.scan_iter(count=1000):
        key = raw_key.decode(errors="replace")
        with redis.pipeline(transaction=False) as pipe:
            pipe.memory_usage(raw_key, samples=0)
            pipe.ttl(raw_key)
            usage, ttl = pipe.execute()
        if usage is None:  # gone in between
            continue
        family = _family(key)
        if family in RQ_REGISTRIES and int(ttl) < 0:
            ttl = RQ_REGISTRY_SECONDS
        sizes[_lifetime(int(ttl)), family] += int(usage)
        ttls[family] = max(ttls[family], float(ttl))
    return Census(dict(sizes), dict(ttls), int(redis.info("memory")["used_memory"]))


def table_sizes(database_url: str) -> dict[str, int]:
    engine = engine_for(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT tablename, pg_total_relation_size(quote_ident(schemaname) || '.' || quote_ident(tablename))"
                    " FROM pg_tables WHERE schemaname = 'public'"
                )
            )
            return {str(name): int(size) for name, size in rows}
    finally:
        engine.dispose()


def _wait_for_quiet(redis: Redis, seconds: float = 30) -> None:
    """Until RQ's queues are empty and no job is running: the pipeline's last writes are in."""
    from rq import Queue, Worker

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        queued = sum(q.count for q in Queue.all(connection=redis))
        busy = sum(1 for w in Worker.all(connection=redis) if w.get_current_job_id())
        if queued == 0 and busy == 0:
            return
        time.sleep(0.25)


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} TB"


def main() -> str:
    settings = load_settings(ROOT / "settings.toml")
    workers = settings.workers.count
    messages = int(os.environ.get("HELPLINE_BENCH_MEMORY_MESSAGES", MESSAGES))
    desk = LiveDesk(workers).start()
    try:
        desk.offer(5, WARM_UP / 5, wait=60)
        redis = desk.redis_client()
        _wait_for_quiet(redis)
        time.sleep(1)
        idle = {label: rss_kib(pid) for label, pid in desk.pids()}
        cpu_before = {pid: cpu_seconds(pid) for _, pid in desk.pids()}
        before, tables_before = census(redis), table_sizes(desk.database_url)
        step = desk.offer(RATE, messages / RATE, wait=300)
        _wait_for_quiet(redis)
        cpu: dict[str, float] = defaultdict(float)  # role -> CPU seconds the load cost it
        for label, pid in desk.pids():
            cpu[label.split("-")[0].split(" ")[0]] += cpu_seconds(pid) - cpu_before.get(pid, 0.0)
        peaks: dict[str, list[int]] = defaultdict(list)
        idles: dict[str, list[int]] = defaultdict(list)
        for label, pid in desk.pids():
            peaks[label].append(peak_rss_kib(pid))
            idles[label].append(idle.get(label, 0))
        after, tables_after = census(redis), table_sizes(desk.database_url)
        redis.close()
    finally:
        desk.stop()
    stored = sum(len(v) for v in step.latencies.values())
    retention = settings.retention
    lost = step.refused + step.missing
    report = _report(retention.raw_payload_days, retention.dedupe_key_days, workers, messages, stored, lost,
                     peaks, idles, before, after, tables_before, tables_after)  # fmt: skip
    return report + _cpu_report(cpu, max(1, stored))


def _cpu_report(cpu: dict[str, float], messages: int) -> str:
    """CPU per message by role: unlike latency, it hardly depends on how busy the machine's other users keep it."""
    ranked = sorted(cpu.items(), key=lambda item: -item[1])
    rows = [f"| {role} | {seconds / messages * 1000:.1f} |" for role, seconds in ranked]
    total = sum(cpu.values()) / messages * 1000
    return f"""
**CPU per message** under the same load (user + system time of each role's processes, summed over its copies; a
figure that depends little on the machine's other users, unlike latency): {total:.1f} ms in all, so one free core
keeps up with about {1000 / total:.0f} msg/s of this mix.

| role | CPU ms per message |
|---|---|
{chr(10).join(rows)}
"""


def _report(
    raw_days: float,
    dedupe_days: float,
    workers: int,
    messages: int,
    stored: int,
    lost: int,
    peaks: dict[str, list[int]],
    idles: dict[str, list[int]],
    before: Census,
    after: Census,
    tables_before: dict[str, int],
    tables_after: dict[str, int],
) -> str:
    n = max(1, stored)
    process_rows = []
    for label in peaks:
        count = len(peaks[label])
        peak, idle = max(peaks[label]), max(idles[label])
        what = f"{label} × {count} (largest)" if count > 1 else label
        ratio = f"{peak / idle:.2f}×" if idle else "–"
        process_rows.append(f"| {what} | {idle / 1024:,.1f} | {peak / 1024:,.1f} | {ratio} |")
    total_peak = sum(sum(v) for v in peaks.values())

    families = sorted(set(after.bytes_by_family) | set(before.bytes_by_family))
    grown: dict[str, float] = defaultdict(float)  # lifetime -> bytes per message
    redis_rows = []
    steady: dict[str, float] = {}  # retention family -> bytes per message × days it is kept
    for lifetime, family in families:
        delta = after.bytes_by_family.get((lifetime, family), 0) - before.bytes_by_family.get((lifetime, family), 0)
        if delta <= 0:
            continue
        per = delta / n
        grown[lifetime] += per
        days = after.ttl_by_family.get(family, 0) / DAY
        if lifetime == "for good":
            kept = lifetime
        else:  # what expires: the volume of as many days as it is kept, at steady state
            kept = f"TTL up to {days:.1f} d" if days >= 1 else f"TTL up to {days * DAY:,.0f} s"
            steady[family] = per * _retention_days(family, raw_days, dedupe_days, days)
        redis_rows.append(f"| `{family}` | {kept} | {per:,.0f} |")
    used_per = (after.used_memory - before.used_memory) / n
    census_per = sum(grown.values())

    pg_rows = []
    for table in sorted(tables_after):
        delta = tables_after[table] - tables_before.get(table, 0)
        if delta > 0:
            pg_rows.append(f"| `{table}` | {delta / n:,.0f} |")
    pg_per = (sum(tables_after.values()) - sum(tables_before.values())) / n

    # Redis's own overhead beyond MEMORY USAGE (allocator, dict growth) is spread over the lifetimes pro rata.
    overhead = used_per / census_per if census_per > 0 else 1.0
    forever = grown.get("for good", 0) * overhead
    retained = sum(steady.values()) * overhead
    sizing = []
    for volume in VOLUMES:
        sizing.append(
            f"| {volume:,} | {_human(forever * volume)} | {_human(retained * volume)} | "
            f"{_human(forever * volume * 365 + retained * volume)} | {_human(pg_per * volume)} | "
            f"{_human(pg_per * volume * 365)} |"
        )
    return f"""## Memory per process and storage per message (`bench/bench_memory.py`)

The desk of `bench_latency` (real `helpline serve smtp`, `web`, `scheduler` and {workers} workers, the default
`workers.count`; redis-server with `appendfsync always`; PostgreSQL with fsync on, the record on; `[retention]`
raw payloads {raw_days:g} d, dedupe keys {dedupe_days:g} d) took {messages:,} messages at {RATE:g} msg/s, email, SMS
and Telegram in turn, each from a new customer (so every message also brings a new contact and conversation: a desk
whose customers write again costs less per message): {stored:,} acknowledged, {lost} lost.

**Peak resident memory per process** (VmHWM after the load) against the same process idle after start and a short
warm-up (**the baseline, same run**). Together: {total_peak / 1024:,.0f} MiB at peak (PostgreSQL's shared buffers
are counted in each of its processes that touched them, so its rows overstate the sum).

| process | idle MiB | peak MiB under load | peak / idle |
|---|---|---|---|
{chr(10).join(process_rows)}

**Redis per stored message**: `used_memory` grew {used_per:,.0f} B per message; the key census (`MEMORY USAGE`)
accounts for {census_per:,.0f} B of it, by family and lifetime (families that did not grow are left out):

| key family | kept | bytes per message |
|---|---|---|
{chr(10).join(redis_rows)}

**PostgreSQL per message** (`pg_total_relation_size`, tables with their indexes and TOAST): {pg_per:,.0f} B.

| table | bytes per message |
|---|---|
{chr(10).join(pg_rows)}

**Sizing** from these figures (Redis's allocator overhead spread pro rata over the key families): Redis grows by
what is kept for good each day and levels off, for what expires (`[retention]`'s raw payloads and dedupe keys, RQ's
finished jobs and results after minutes), at volume × time kept; PostgreSQL
keeps every row (its retention, `resolved_case_years`, anonymises a resolved case's content after five years by
default and keeps its rows for the reports), so the table's year is all growth. Attachments (on disk, not here) and
long mails weigh more: these are short texts.

| messages/day | Redis, kept for good, per day | Redis, expiring keys (steady state) | Redis after a year \
| PostgreSQL per day | PostgreSQL after a year |
|---|---|---|---|---|---|
{chr(10).join(sizing)}
"""


def _retention_days(family: str, raw_days: float, dedupe_days: float, ttl_days: float) -> float:
    """How many days' messages a retention family holds at steady state: its configured lifetime where the family is
    one `[retention]` names, else the longest TTL seen."""
    return {"raw": raw_days, "dedupe": dedupe_days}.get(family, ttl_days)


if __name__ == "__main__":
    print(main())
