from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import typer
from typer.testing import CliRunner

from core.envelope import Channel, Decision, Envelope, Party, Priority
from core.inbox import Inbox
from core.records import MessageState, StoredMessage, utcnow
from core.settings import Settings
from core.store import Store
from desk.queue_report import queue_report
from helpline.queues_cli import format_age, queues_command, render_table
from tests.conftest import ROOT
from tests.support.cases import file_case, take

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=SH)  # Wednesday afternoon


def routed(store: Store, message_id: str, queue: str, priority: Priority, received: datetime) -> None:
    envelope = Envelope(
        channel=Channel.EMAIL, provider_id=message_id, received_at=received, sender=Party(address="a@b.c")
    )
    decision = Decision(category=queue, priority=priority, queue=queue)
    store.save_message(StoredMessage(id=message_id, envelope=envelope, state=MessageState.ROUTED, decision=decision))
    file_case(store, queue, priority, message_id, received)


def test_report_counts_depth_age_at_risk_and_breached(settings: Settings, store: Store) -> None:
    routed(store, "m1", "general", Priority.NORMAL, NOW - timedelta(hours=1))  # 1 of 4 business hours: ok
    routed(store, "m2", "general", Priority.NORMAL, NOW - timedelta(hours=3, minutes=30))  # 3.5 of 4: at risk
    routed(store, "m3", "general", Priority.NORMAL, NOW - timedelta(hours=5))  # breached
    routed(store, "m4", "security", Priority.URGENT, NOW - timedelta(minutes=8))  # 8 of 10 minutes: at risk

    rows = {(r.queue, r.priority): r for r in queue_report(settings, store, NOW)}

    general = rows[("general", Priority.NORMAL)]
    assert (general.depth, general.at_risk, general.breached) == (3, 1, 1)
    assert general.oldest_age == timedelta(hours=5)
    assert general.open_now
    security = rows[("security", Priority.URGENT)]
    assert (security.depth, security.at_risk, security.breached) == (1, 1, 0)
    assert rows[("general", Priority.LOW)].depth == 0


def test_open_items_are_counted_with_their_first_response_and_resolution_risk(settings: Settings, store: Store) -> None:
    # The wallet queue is 24/7: normal is 4 h to a first response and 24 h to resolution.
    routed(store, "taken-late", "wallet", Priority.NORMAL, NOW - timedelta(hours=5))  # first response breached
    routed(store, "answered", "wallet", Priority.NORMAL, NOW - timedelta(hours=19))  # resolution at risk (19/24)
    routed(store, "answered-late", "wallet", Priority.NORMAL, NOW - timedelta(hours=30))  # resolution breached
    routed(store, "waiting", "wallet", Priority.NORMAL, NOW - timedelta(hours=3, minutes=30))  # first response at risk
    inbox = Inbox(store)
    for _ in range(3):
        take(store, "wallet", "mei", NOW - timedelta(hours=1))
    inbox.record_first_response("answered", NOW - timedelta(minutes=30), "mei")
    inbox.record_first_response("answered-late", NOW - timedelta(minutes=30), "mei")
    rows = {(r.queue, r.priority): r for r in queue_report(settings, store, NOW)}

    wallet = rows[("wallet", Priority.NORMAL)]
    assert (wallet.depth, wallet.open) == (1, 3)
    assert (wallet.at_risk, wallet.breached) == (1, 1)  # waiting at risk; taken-late is taken but not answered
    assert (wallet.resolution_at_risk, wallet.resolution_breached) == (1, 1)

    inbox.resolve("answered-late", "mei", NOW)
    inbox.resolve("taken-late", "mei", NOW)
    after = {(r.queue, r.priority): r for r in queue_report(settings, store, NOW)}[("wallet", Priority.NORMAL)]
    assert (after.open, after.breached, after.resolution_breached) == (1, 0, 0)
    lines = render_table(queue_report(settings, store, NOW)).splitlines()
    assert lines[1].split() == ["wallet", "normal", "1", "3h30m", "1", "0", "1", "1", "0", "open"]


def test_a_queue_with_only_open_items_is_shown(settings: Settings, store: Store) -> None:
    routed(store, "m1", "security", Priority.HIGH, NOW - timedelta(minutes=5))
    take(store, "security", "mei", NOW)
    lines = render_table(queue_report(settings, store, NOW)).splitlines()
    assert [[*line.split()[:3], line.split()[6]] for line in lines[1:]] == [["security", "high", "0", "1"]]
    Inbox(store).resolve("m1", "mei", NOW)
    assert render_table(queue_report(settings, store, NOW)) == "no items waiting or open"


def test_format_age() -> None:
    assert format_age(timedelta(minutes=5)) == "5m"
    assert format_age(timedelta(hours=2, minutes=5)) == "2h05m"
    assert format_age(timedelta(days=3, hours=4)) == "3d04h"
    assert format_age(None) == "-"


def test_table_layout(settings: Settings, store: Store) -> None:
    routed(store, "m1", "general", Priority.HIGH, NOW - timedelta(minutes=50))
    text = render_table(queue_report(settings, store, NOW))
    lines = text.splitlines()
    header = [
        "QUEUE",
        "PRIORITY",
        "DEPTH",
        "OLDEST",
        "AT",
        "RISK",
        "BREACHED",
        "OPEN",
        "RES",
        "RISK",
        "RES",
        "BREACHED",
    ]
    assert lines[0].split() == [*header, "HOURS"]
    assert lines[1].split() == ["general", "high", "1", "50m", "1", "0", "0", "0", "0", "open"]
    assert len(lines) == 2
    assert len(render_table(queue_report(settings, store, NOW), show_empty=True).splitlines()) == 5


def test_command_prints_json(settings: Settings, store: Store) -> None:
    routed(store, "m1", "security", Priority.URGENT, utcnow() - timedelta(hours=1))
    result = CliRunner().invoke(
        _app(),
        ["--settings", str(ROOT / "settings.toml"), "--json"],
        env={"HELPLINE_REDIS__URL": settings.redis.url or ""},
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data == [
        {
            "queue": "security",
            "priority": "urgent",
            "depth": 1,
            "at_risk": 0,
            "breached": 1,
            "open_now": True,
            "open": 0,
            "resolution_at_risk": 0,
            "resolution_breached": 0,
            "oldest_age_seconds": data[0]["oldest_age_seconds"],
        }
    ]
    assert 3600 <= data[0]["oldest_age_seconds"] < 3700


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(queues_command)
    return app
