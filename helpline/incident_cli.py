"""`helpline incident open|list|show|link|unlink|answer`: incidents from a terminal, a thin client of
desk/incidents.py. `--as` names the supervisor; one of the agents' store must be a supervisor or an admin (another
name is an operator at the server's terminal, recorded as given)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from helpline.options import SettingsOption, settings_or_exit, store_errors_exit

if TYPE_CHECKING:
    from desk.context import DeskContext
    from desk.incidents import IncidentView

incident_app = typer.Typer(
    help="Incidents: one answer for every case an outage brought, in each customer's language and channel.",
    no_args_is_help=True,
    add_completion=False,
)

AsOption = Annotated[str, typer.Option("--as", help="the supervisor (id or email in the agents' store, or a name)")]
IncidentArgument = Annotated[str, typer.Argument(help="the incident's id (`incident list` shows them)")]


def _context(settings_file: Path | None) -> DeskContext:
    from desk.context import desk_context

    return desk_context(settings_or_exit(settings_file))


def _supervisor(ctx: DeskContext, who: str) -> str:
    """The actor's id: a store agent must be a supervisor or an admin (exit 2 otherwise)."""
    from core.agent_settings import Role
    from desk.agents import AgentStore

    try:
        agent = AgentStore(ctx.record).find(who)
    except LookupError:
        return who
    if not agent.active or not agent.role.at_least(Role.SUPERVISOR):
        typer.echo(f"error: {agent.email or agent.id} is not an active supervisor or admin", err=True)
        raise typer.Exit(2)
    return agent.id


def _when(text: str | None, zone: str, option: str) -> datetime | None:
    from core.notices import localize

    if text is None:
        return None
    try:
        return localize(datetime.fromisoformat(text), zone)
    except ValueError:
        typer.echo(f"error: {option} {text!r} is not a date and time like 2026-12-01T18:00", err=True)
        raise typer.Exit(2) from None


def _echo(incident: IncidentView) -> None:
    resolved = f"  resolved {incident.resolved_at:%Y-%m-%d %H:%M}" if incident.resolved_at else ""
    typer.echo(
        f"{incident.id}  {incident.status:<9} {incident.case_count:>5} cases  "
        f"opened {incident.started_at:%Y-%m-%d %H:%M} by {incident.opened_by}{resolved}  {incident.title}"
    )


@incident_app.command("open")
def open_command(
    title: Annotated[str, typer.Argument(help="what is happening, e.g. 'Top-ups delayed'")],
    notice: Annotated[str | None, typer.Option("--notice", help="a notice every acknowledgement carries")] = None,
    notice_zh: Annotated[str | None, typer.Option("--notice-zh", help="its Chinese text (default: the same)")] = None,
    notice_until: Annotated[
        str | None, typer.Option("--notice-until", help="its end (default: 24 hours; resolving ends it)")
    ] = None,
    agent: AsOption = "supervisor",
    settings: SettingsOption = None,
) -> None:
    """Open an incident (optionally with a customer notice) and print its id."""
    from desk.incidents import open_incident

    ctx = _context(settings)
    until = _when(notice_until, ctx.settings.notices.timezone, "--notice-until")
    with store_errors_exit(LookupError, ValueError):
        opened = open_incident(ctx, title, _supervisor(ctx, agent), notice_en=notice, notice_zh=notice_zh,
                               notice_until=until)  # fmt: skip
    notice_line = f" with notice {opened.notice_id}" if opened.notice_id else ""
    typer.echo(f"opened {opened.id}{notice_line}: {opened.title}")


@incident_app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option("--status", help="open, answering or resolved")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    settings: SettingsOption = None,
) -> None:
    """Incidents, the most recently started first."""
    from desk.incidents import list_incidents

    ctx = _context(settings)
    with store_errors_exit():
        found = list_incidents(ctx, status=status, limit=limit)
    if not found:
        typer.echo("no incidents")
    for incident in found:
        _echo(incident)


@incident_app.command("show")
def show_command(
    incident_id: IncidentArgument,
    as_json: Annotated[bool, typer.Option("--json", help="print it as JSON")] = False,
    settings: SettingsOption = None,
) -> None:
    """The incident, its answer once sent, and its linked cases with their live states and outcomes."""
    from dataclasses import asdict

    from desk.incidents import show_incident

    ctx = _context(settings)
    with store_errors_exit(LookupError):
        incident = show_incident(ctx, incident_id)
    if as_json:
        typer.echo(json.dumps(asdict(incident), ensure_ascii=False, indent=2, default=str))
        return
    _echo(incident)
    if incident.answer_en:
        typer.echo(f"  answered by {incident.answered_by}: {incident.answer_en}")
        if incident.answer_zh != incident.answer_en:
            typer.echo(f"  中文: {incident.answer_zh}")
    for case in incident.cases:
        typer.echo(f"  {case.reference}  {case.status:<8} {case.channel:<9} {case.queue or '-':<12} "
                   f"{case.outcome or ''}")  # fmt: skip


@incident_app.command("link")
def link_command(
    incident_id: IncidentArgument,
    cases: Annotated[
        list[str] | None, typer.Argument(help="cases: references, Message-IDs, emails, phones (one case each)")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="instead: every open or pending case whose messages hold this")
    ] = None,
    queue: Annotated[str | None, typer.Option("--queue", help="with --query: only this queue's cases")] = None,
    since: Annotated[str | None, typer.Option("--since", help="with --query: only messages since (ISO time)")] = None,
    agent: AsOption = "supervisor",
    settings: SettingsOption = None,
) -> None:
    """Link cases to the incident, by hand (CASES) or by a search (--query)."""
    from desk.incidents import link_cases, link_matching

    if bool(cases) == (query is not None):
        typer.echo("error: name CASES or give --query, not both", err=True)
        raise typer.Exit(2)
    ctx = _context(settings)
    start = _when(since, ctx.settings.notices.timezone, "--since")
    actor = _supervisor(ctx, agent)
    with store_errors_exit(LookupError, ValueError):
        if query is not None:
            done = link_matching(ctx, incident_id, query, actor, queue=queue, since=start)
        else:
            done = link_cases(ctx, incident_id, cases or [], actor)
    typer.echo(f"{incident_id}: {len(done.added)} linked, {len(done.already)} linked before")
    for case, other in sorted(done.elsewhere.items()):
        typer.echo(f"  left out {case}: in open incident {other}")
    if done.more:
        typer.echo("the search found more than it links at once: narrow it and link again", err=True)


@incident_app.command("unlink")
def unlink_command(
    incident_id: IncidentArgument,
    case: Annotated[str, typer.Argument(help="the case (any handle naming one)")],
    agent: AsOption = "supervisor",
    settings: SettingsOption = None,
) -> None:
    """Unlink a case from the incident (before it is answered)."""
    from desk.incidents import unlink_case

    ctx = _context(settings)
    with store_errors_exit(LookupError, ValueError):
        case_id = unlink_case(ctx, incident_id, case, _supervisor(ctx, agent))
    typer.echo(f"{incident_id}: {case_id} unlinked")


@incident_app.command("answer")
def answer_command(
    incident_id: IncidentArgument,
    text: Annotated[str | None, typer.Option("--text", "-t", help="the English answer; default: read stdin")] = None,
    zh: Annotated[str | None, typer.Option("--zh", help="the Chinese answer (default: the same text)")] = None,
    agent: AsOption = "supervisor",
    settings: SettingsOption = None,
) -> None:
    """Answer every linked case not resolved, in its customer's language on its channel, resolve them, and resolve
    the incident."""
    from desk.incidents import answer_incident

    body = text if text is not None or zh is not None else sys.stdin.read()
    ctx = _context(settings)
    with store_errors_exit(LookupError, ValueError):
        done = answer_incident(ctx, incident_id, _supervisor(ctx, agent), text_en=body, text_zh=zh)
    for case in done.cases:
        how = f" by {case.channel} in {case.language}" if case.reply_id else ""
        typer.echo(f"  {case.reference}  {case.outcome}{how}")
    resolved = sum(case.outcome == "resolved" for case in done.cases)
    typer.echo(f"{incident_id}: resolved; {resolved} of {len(done.cases)} cases answered and resolved")
