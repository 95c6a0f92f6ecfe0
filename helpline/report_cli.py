"""`helpline report --from … --to … [--queue Q] [--agent A] [--period day|week|month|all] [--csv]`: the desk's
figures over a range (record/reports.py), as an aligned table or CSV. Times without an offset are in `desk.timezone`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from core.settings import Settings
from helpline.options import SettingsOption, settings_or_exit, store_errors_exit

FromOption = Annotated[str, typer.Option("--from", help="start (inclusive): 2026-03-01 or 2026-03-01T09:00")]
ToOption = Annotated[str, typer.Option("--to", help="end (exclusive), same forms as --from")]


def report_command(
    start: FromOption,
    end: ToOption,
    queue: Annotated[str | None, typer.Option("--queue", help="one queue only")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="cases assigned to this agent only")] = None,
    period: Annotated[str, typer.Option("--period", help="day, week, month, or all (the whole range)")] = "all",
    as_csv: Annotated[
        bool, typer.Option("--csv", help="CSV (period,queue,measure,by,value) instead of a table")
    ] = False,
    settings: SettingsOption = None,
) -> None:
    """Volumes, first response and resolution times, SLA attainment, CSAT and agents' category corrections over a
    range, per period and queue."""
    from sqlalchemy.exc import OperationalError  # here, not at the top: every other command starts without them

    from record.engine import connect as connect_record
    from record.reports import PERIODS, ReportRange, number, report, to_csv

    loaded = settings_or_exit(settings)
    if period not in PERIODS:
        _usage(f"--period must be one of {', '.join(PERIODS)}, not {period!r}")
    try:
        span = ReportRange(
            start=_moment(start, "--from", loaded), end=_moment(end, "--to", loaded), timezone=loaded.desk.timezone,
            period=period, queue=queue, agent=agent,  # type: ignore[arg-type]
        )  # fmt: skip
    except ValueError as exc:
        _usage(str(exc))
    engine = connect_record(loaded)
    try:
        with store_errors_exit(OperationalError), engine.begin() as connection:
            figures = report(connection, span, timeout_seconds=loaded.desk.report_timeout_seconds)
    finally:
        engine.dispose()
    if as_csv:
        typer.echo(to_csv(figures), nl=False)
        return
    rows = [(f.period, f.queue, f.measure, f.by, number(f.value)) for f in figures]
    if not rows:
        typer.echo("nothing recorded in that range")
        return
    header = ("PERIOD", "QUEUE", "MEASURE", "BY", "VALUE")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        typer.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _moment(value: str, option: str, settings: Settings) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        _usage(f"{option} {value!r} is not a date or time (2026-03-01, 2026-03-01T09:00, 2026-03-01T09:00+08:00)")
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(settings.desk.timezone))


def _usage(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
