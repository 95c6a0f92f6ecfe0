"""`helpline agent next QUEUE…`, `show CASE`, `answer CASE [--canned NAME]`, `note CASE TEXT`, `resolve CASE`,
`reopen CASE`, `reassign CASE AGENT`, `recategorize CASE`, `canned list`, `attachment`...: the agents' side from a
terminal, a thin client of desk/. CASE is whatever a person has at hand (desk/lookup.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from core.envelope import Priority
from helpline.options import SettingsOption, settings_or_exit, store_errors_exit

if TYPE_CHECKING:
    from desk.context import DeskContext
    from desk.lookup import Match

agent_app = typer.Typer(help="Take routed work and answer it.", no_args_is_help=True)

AgentOption = Annotated[str, typer.Option("--as", help="the agent's name, recorded on the message")]


def _context(settings_file: Path | None) -> DeskContext:
    from desk.context import desk_context

    return desk_context(settings_or_exit(settings_file))


CaseArgument = Annotated[
    str,
    typer.Argument(help="the case: its reference (HL-…), a message's id or Message-ID, a provider id, an email "
                   "address or a phone number"),
]  # fmt: skip


def _one_case(ctx: DeskContext, what: str) -> str:
    """The case a write names; exits 4 listing the cases when the phrase names several."""
    return _one_match(ctx, what).case_id


def _one_match(ctx: DeskContext, what: str) -> Match:
    """The case a write names, and the message if it named one; exits 4 listing the cases when it names several."""
    from desk.lookup import Ambiguous, one_case

    try:
        return one_case(ctx, what)
    except Ambiguous as exc:
        typer.echo(f"error: {exc}", err=True)
        for match in exc.matches:
            typer.echo(f"  {match.reference}  {match.status}  ({match.how})", err=True)
        raise typer.Exit(4) from None


def _actor(ctx: DeskContext, agent: str) -> tuple[str, str]:
    """(id, name) of `--as`: an agent of the store by id or email, or else the name as given (recorded as it is)."""
    from desk.agents import AgentStore

    try:
        known = AgentStore(ctx.record).find(agent)
    except LookupError:
        return agent, ""
    return known.id, known.name


canned_app = typer.Typer(help="Canned replies: templates in the customer's language.", no_args_is_help=True)
agent_app.add_typer(canned_app, name="canned")


@canned_app.command("list")
def list_canned(
    json_out: Annotated[bool, typer.Option("--json", help="as JSON")] = False,
    settings: SettingsOption = None,
) -> None:
    """The canned replies: name, languages and title (send one with `helpline agent answer CASE --canned NAME`)."""
    from desk.canned import canned_replies

    settings_or_exit(settings)  # like every command: an invalid settings file is refused
    replies = canned_replies()
    if json_out:
        rows = [{"name": c.name, "languages": c.languages, "titles": c.titles} for c in replies]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for canned in replies:
        typer.echo(f"{canned.name:<24} {','.join(canned.languages):<6} {canned.titles.get('en', canned.name)}")


@agent_app.command("next")
def next_item(
    queues: Annotated[
        list[str] | None, typer.Argument(help="the queues to take from (default: the agent's own)")
    ] = None,
    agent: AgentOption = "agent",
    capacity: Annotated[
        int | None, typer.Option(help="cases the agent may hold taken and unanswered (default: the agent's own, or 10)")
    ] = None,
    settings: SettingsOption = None,
) -> None:
    """Take the most urgent case waiting in any of QUEUES and print it as JSON (exit 3 when none, or at capacity).
    An agent of the store (`--as` their id or email) takes from their own queues within their capacity."""
    from desk.agents import AgentStore
    from desk.cases import CaseError, take_next, take_next_for
    from desk.view import case_view

    ctx = _context(settings)
    with store_errors_exit():
        try:
            known = AgentStore(ctx.record).find(agent)
        except LookupError:
            known = None
        try:
            if known is not None and capacity is None:
                taken = take_next_for(ctx, known, queues)
            elif queues:
                taken = take_next(
                    ctx, queues, known.id if known else agent, capacity=10 if capacity is None else capacity
                )
            else:
                typer.echo(f"error: {agent} is not an agent of the store: name the queues", err=True)
                raise typer.Exit(2)
        except CaseError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    if taken is None:
        where = ", ".join(queues) if queues else "their queues"
        typer.echo(f"{where}: nothing waiting for {agent} (or {agent} is at capacity)", err=True)
        raise typer.Exit(3)
    typer.echo(json.dumps(case_view(ctx, taken.case.id), ensure_ascii=False, indent=2))


@agent_app.command("show")
def show_cases(
    what: CaseArgument,
    settings: SettingsOption = None,
) -> None:
    """Print every case WHAT names, as JSON: its messages in order, details, replies, the contact's other cases."""
    from desk.lookup import find
    from desk.view import case_view

    ctx = _context(settings)
    with store_errors_exit():
        matches = find(ctx, what)
        if not matches:
            typer.echo(f"error: no case matches {what!r}", err=True)
            raise typer.Exit(1)
        views = [{"matched_by": m.how, **case_view(ctx, m.case_id)} for m in matches]
    typer.echo(json.dumps(views, ensure_ascii=False, indent=2))


@agent_app.command("answer")
def answer_case(
    what: CaseArgument,
    text: Annotated[str | None, typer.Option("--text", "-t", help="the answer; default: read stdin")] = None,
    canned: Annotated[
        str | None, typer.Option("--canned", "-c", help="send this canned reply (`canned list`) instead of a text")
    ] = None,
    agent: AgentOption = "agent",
    settings: SettingsOption = None,
) -> None:
    """Send an answer through the channel of the customer's latest message; the case becomes pending. With
    `--canned NAME`, the canned reply rendered for the case in the customer's language."""
    from desk.canned import answer_canned
    from desk.cases import answer

    if canned is not None and text is not None:
        typer.echo("error: give --text or --canned, not both", err=True)
        raise typer.Exit(2)
    body = "" if canned is not None else (text if text is not None else sys.stdin.read())
    if canned is None and not body.strip():
        typer.echo("error: the answer is empty", err=True)
        raise typer.Exit(2)
    ctx = _context(settings)
    with store_errors_exit(LookupError, ValueError):
        actor, name = _actor(ctx, agent)
        case = _one_case(ctx, what)
        if canned is not None:
            done = answer_canned(ctx, case, canned, actor, agent_name=name)
        else:
            done = answer(ctx, case, body, actor)
    state = "stays open: the customer wrote again meanwhile" if done.newer else done.case.status.value
    typer.echo(f"{done.reply.id}: queued to {done.reply.to} by {done.reply.channel.value}; case {state}")


@agent_app.command("resolve")
def resolve_case(
    what: CaseArgument,
    agent: AgentOption = "agent",
    settings: SettingsOption = None,
) -> None:
    """Resolve a case: it leaves the inbox and its resolution time is recorded against the SLA."""
    from desk.cases import resolve

    ctx = _context(settings)
    with store_errors_exit(LookupError, ValueError):
        done = resolve(ctx, _one_case(ctx, what), agent)
    typer.echo(f"{done.case_id}: resolved in {done.queue} {done.outcome}")


@agent_app.command("note")
def note_case(
    what: CaseArgument,
    text: Annotated[str, typer.Argument(help="the note, for agents only (secrets in it are masked)")],
    agent: AgentOption = "agent",
    settings: SettingsOption = None,
) -> None:
    """Add an internal note to a case: agents see it with the case; it is never sent to the customer."""
    from desk.notes import add_note

    ctx = _context(settings)
    with store_errors_exit(LookupError, ValueError):
        actor, _ = _actor(ctx, agent)
        note = add_note(ctx, _one_case(ctx, what), text, actor)
    masked = f" (masked: {', '.join(note.masked)})" if note.masked else ""
    typer.echo(f"note {note.id} added to {note.case_id}{masked}")


@agent_app.command("reopen")
def reopen_case(
    what: CaseArgument,
    agent: AgentOption = "agent",
    settings: SettingsOption = None,
) -> None:
    """Put a pending or resolved case back in its queue, waiting at its priority (an open case is refused)."""
    from desk.cases import reopen

    ctx = _context(settings)
    with store_errors_exit(LookupError, ValueError):
        actor, _ = _actor(ctx, agent)
        state = reopen(ctx, _one_case(ctx, what), actor)
    typer.echo(f"{state.id}: open, waiting in {state.queue} at {state.priority.value}")


@agent_app.command("reassign")
def reassign_case(
    what: CaseArgument,
    to: Annotated[str, typer.Argument(help="the agent who gets the case")],
    agent: AgentOption = "agent",
    settings: SettingsOption = None,
) -> None:
    """Give an open case to a named agent."""
    from desk.cases import reassign

    ctx = _context(settings)
    with store_errors_exit(LookupError, ValueError):
        state = reassign(ctx, _one_case(ctx, what), to, agent)
    typer.echo(f"{state.id}: now with {state.agent}")


@agent_app.command("merge")
def merge_command(
    source: CaseArgument,
    into: Annotated[str, typer.Argument(help="the case that keeps the messages (same handles as CASE)")],
    agent: AgentOption = "agent",
    settings: SettingsOption = None,
) -> None:
    """Merge a case into another case of the same customer: its messages move, it is resolved and linked."""
    from desk.merge import merge_cases

    ctx = _context(settings)
    with store_errors_exit(LookupError, ValueError):
        moved = merge_cases(ctx, _one_case(ctx, source), _one_case(ctx, into), agent)
    typer.echo(f"{moved.source}: merged into {moved.target} ({len(moved.messages)} messages)")


@agent_app.command("move")
def move_command(
    message_id: Annotated[str, typer.Argument(help="the message to move (its id)")],
    into: Annotated[str, typer.Argument(help="the case it belongs to (same handles as CASE)")],
    agent: AgentOption = "agent",
    settings: SettingsOption = None,
) -> None:
    """Move one message to another case of the same customer."""
    from desk.merge import move_message

    ctx = _context(settings)
    with store_errors_exit(LookupError, ValueError):
        moved = move_message(ctx, message_id, _one_case(ctx, into), agent)
    typer.echo(f"{message_id}: moved from {moved.source} to {moved.target}")


@agent_app.command("link")
def link_command(
    what: CaseArgument,
    identity: Annotated[str, typer.Argument(help="the customer's other address: email, phone or telegram:<id>")],
    agent: AgentOption = "agent",
    settings: SettingsOption = None,
) -> None:
    """Link another identity of the case's customer to their contact."""
    from desk.merge import link_identity

    ctx = _context(settings)
    with store_errors_exit(LookupError, ValueError):
        linked = link_identity(ctx, _one_case(ctx, what), identity, agent)
    typer.echo(f"{linked}: linked to the customer of {what}")


@agent_app.command("attachment")
def save_attachment(
    message_id: Annotated[str, typer.Argument(help="the message the attachment came with")],
    index: Annotated[int, typer.Argument(help="which attachment: 1 = the first, as `agent next` lists them")],
    out: Annotated[Path, typer.Option("--out", "-o", help="where to write the content")],
    settings: SettingsOption = None,
) -> None:
    """Save an attachment's content to a file. Telegram files are fetched from the Bot API now (size-capped), email
    attachments come from the store; media a provider hosts (Twilio) are printed as a URL to fetch with the
    account's credentials (exit 3, nothing written)."""
    from core.redis_conn import connect
    from core.store import Store
    from helpline.attachments import AttachmentUnavailable, HostedElsewhere, fetch_attachment

    loaded = settings_or_exit(settings)
    with store_errors_exit(LookupError, AttachmentUnavailable):
        content = fetch_attachment(loaded, Store(connect(loaded)), message_id, index)
    if isinstance(content, HostedElsewhere):
        typer.echo(content.url)
        typer.echo("hosted by the provider: fetch it with the account's credentials (Twilio: account SID and auth "
                   "token as HTTP basic auth); nothing was written", err=True)  # fmt: skip
        raise typer.Exit(3)
    out.write_bytes(content)
    typer.echo(f"{out}: {len(content)} bytes")


@agent_app.command("recategorize")
def recategorize_case(
    what: CaseArgument,
    reason: Annotated[str, typer.Option("--reason", "-r", help="why: kept with the change and the correction")],
    category: Annotated[str | None, typer.Argument(help="the right category, e.g. refund")] = None,
    priority: Annotated[Priority | None, typer.Option("--priority", "-p", help="the case's new priority")] = None,
    queue: Annotated[str | None, typer.Option("--queue", "-q", help="the case's new queue")] = None,
    agent: AgentOption = "agent",
    settings: SettingsOption = None,
) -> None:
    """Change a case's category, priority or queue, saying why. A new category moves the case to that category's
    queue (unless --queue says otherwise) and `helpline train` learns from it, as a correction of the message CASE
    names (else the case's first message)."""
    from desk.recategorize import Change, recategorize

    ctx = _context(settings)
    with store_errors_exit(LookupError, ValueError):
        change = Change(reason, category, priority, queue).checked(ctx.settings)  # before any lookup
        actor, _ = _actor(ctx, agent)
        match = _one_match(ctx, what)
        done = recategorize(ctx, match.case_id, change, actor, message_id=match.message_id)
    moved = [f"{field} {a} -> {b}" for field, (a, b) in (("category", done.category), ("queue", done.queue),
             ("priority", (done.priority[0].value, done.priority[1].value))) if a != b]  # fmt: skip
    kept = " (kept for training)" if done.correction is not None else ""
    typer.echo(f"{done.case_id}: {', '.join(moved) or 'unchanged'}{kept}")
