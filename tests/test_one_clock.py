"""One clock: Python's. Redis is only ever given durations, never absolute times, and never asked for its own TIME.

A test pins `now` (a Wednesday afternoon, a date years ahead) and hands it to the code; Redis meanwhile keeps its own,
real clock. Were the code to write `EXPIREAT <now + 1 h>`, a pinned date that the calendar has passed would make Redis
drop the key at once, and the suite would turn red on some later day (it did: notices, December 2026). With every
expiry a duration computed from the caller's `now`, the two clocks never have to agree, so the suite passes whatever
the date is. This test keeps it that way for every module Helpline ships.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_SHIPPED = {"tests", "bench", "scripts", ".venv", "var", "build", "dist", ".git"}

# redis-py calls and raw commands that take an absolute Unix time, and Lua asking Redis for its clock.
ABSOLUTE_TIME = re.compile(
    r"\.(p?expireat)\(|\b(exat|pxat)\s*=|['\"](P?EXPIREAT|EXAT|PXAT)['\"]|redis\.call\(\s*['\"]TIME['\"]",
    re.IGNORECASE,
)


def shipped_sources() -> list[Path]:
    return [
        path
        for path in sorted(ROOT.rglob("*.py"))
        if not NOT_SHIPPED.intersection(path.relative_to(ROOT).parts[:1])
        and not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
    ]


def test_shipped_code_gives_redis_durations_not_absolute_times() -> None:
    sources = shipped_sources()
    assert len(sources) > 50  # the walk really reaches the packages
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if ABSOLUTE_TIME.search(line)
    ]
    assert offenders == [], "give Redis a duration computed from the caller's `now` instead:\n" + "\n".join(offenders)


def test_the_pattern_catches_what_it_is_for() -> None:
    caught = [
        "pipe.expireat(key, int(until.timestamp()))",
        "r.pexpireat(key, ms)",
        "r.set(key, value, exat=when)",
        "redis.call('TIME')",
        'r.execute_command("EXPIREAT", key, when)',
    ]
    passed = ["pipe.expire(key, seconds)", "r.set(key, value, ex=60)", "# EXPIREAT is never used here, see above"]
    assert all(ABSOLUTE_TIME.search(line) for line in caught)
    assert not any(ABSOLUTE_TIME.search(line) for line in passed)
