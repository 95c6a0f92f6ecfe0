"""`helpline notice add|list|remove|history`: status notices every acknowledgement carries while they are active,
and their history in the record."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from core.notices import Notice, NoticeBoard, all_notices, localize
from core.records import utcnow
from core.redis_conn import connect
from core.settings import Settings
from core.store import Store
from helpline.options import SettingsOption, settings_or_exit, store_errors_exit

notice_app = typer.Typer(
    help="Status notices (outage, promotion peak) shown in every acknowledgement, in the customer's language.",
    no_args_is_help=True,
    add_completion=False,
)


def _open(path: Path | None) -> tuple[Settings, Store]:
    settings = settings_or_exit(path)
    return settings, Store(connect(settings))


def _when(text: str | None, zone: str, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return localize(datetime.fromisoformat(text), zone)
    except ValueError:
        typer.echo(f"error: {option} {text!r} is not a date and time like 2026-12-01T18:00", err=True)
        raise typer.Exit(2) from None


def _show(at: datetime, zone: str) -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %z")


@notice_app.command("add")
def add(
    text: Annotated[str, typer.Argument(help="the notice; in English, or the only text for both languages")],
    until: Annotated[str, typer.Option("--until", help="end, e.g. 2026-12-01T18:00 (no offset: [notices].timezone)")],
    zh: Annotated[str | None, typer.Option("--zh", help="the Chinese text (default: the same text)")] = None,
    starts: Annotated[str | None, typer.Option("--starts", help="start (default: now)")] = None,
    settings: SettingsOption = None,
) -> None:
    """Add a notice; every acknowledgement carries it from now (or --starts) until --until."""
    loaded, store = _open(settings)
    zone = loaded.notices.timezone
    end = _when(until, zone, "--until")
    assert end is not None
    try:
        with store_errors_exit():
            notice = NoticeBoard(store).add(end, text, zh, starts=_when(starts, zone, "--starts"))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"added {notice.id} until {_show(notice.until, zone)}")


def _line(notice: Notice, now: datetime, zone: str) -> str:
    state = "active" if notice.active(now) else "scheduled"
    when = f"until {_show(notice.until, zone)}"
    if notice.starts and notice.starts > now:
        when = f"from {_show(notice.starts, zone)} {when}"
    texts = notice.text_en if notice.text_en == notice.text_zh else f"{notice.text_en} | {notice.text_zh}"
    return f"{notice.id}  {notice.source}  {state}  {when}\n    {texts}"


@notice_app.command("list")
def list_(settings: SettingsOption = None) -> None:
    """List notices not yet ended, from settings.toml and added here."""
    loaded, store = _open(settings)
    now = utcnow()
    with store_errors_exit():
        notices = all_notices(loaded, store, now)
    if not notices:
        typer.echo("no notices")
    for notice in notices:
        typer.echo(_line(notice, now, loaded.notices.timezone))


@notice_app.command("remove")
def remove(
    notice_id: Annotated[str, typer.Argument(help="the id `notice list` shows")], settings: SettingsOption = None
) -> None:
    """Remove a notice added with `notice add` (ones in settings.toml are removed by editing the file)."""
    _, store = _open(settings)
    if notice_id.startswith("settings-"):
        typer.echo("error: that notice is in settings.toml; remove it there", err=True)
        raise typer.Exit(2)
    with store_errors_exit():
        removed = NoticeBoard(store).remove(notice_id)
    if not removed:
        typer.echo(f"error: no notice {notice_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed {notice_id}")


@notice_app.command("history")
def history(
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="at most this many, newest first")] = 50,
    settings: SettingsOption = None,
) -> None:
    """Every notice added with `notice add`, from the record: its times and when it was withdrawn, newest first."""
    from sqlalchemy.exc import OperationalError  # here, not at the top: the other commands start without SQLAlchemy

    from record.engine import connect as connect_record
    from record.notices import notice_history

    loaded = settings_or_exit(settings)
    zone = loaded.notices.timezone
    engine = connect_record(loaded)
    try:
        with store_errors_exit(OperationalError), engine.connect() as connection:
            rows = notice_history(connection, limit=limit)
    finally:
        engine.dispose()
    if not rows:
        typer.echo("no notices in the record")
    for row in rows:
        span = f"until {_show(row.until, zone)}" if row.until else "no end"
        if row.starts:
            span = f"from {_show(row.starts, zone)} {span}"
        withdrawn = f"  withdrawn {_show(row.withdrawn_at, zone)}" if row.withdrawn_at else ""
        texts = row.text_en if row.text_en == row.text_zh else f"{row.text_en} | {row.text_zh}"
        typer.echo(f"{row.id}  added {_show(row.created_at, zone)}  {span}{withdrawn}\n    {texts}")
