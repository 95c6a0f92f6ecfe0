"""`helpline agent next QUEUE…`, `show CASE`, `answer CASE`, `resolve CASE`, `reassign CASE AGENT`, `attachment` and
`recategorize`: the agents' side from a terminal, a thin client of desk/. CASE is whatever a person has at hand
(desk/lookup.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from helpline.options import SettingsOption, settings_or_exit, store_errors_exit

if TYPE_CHECKING:
    from desk.context import DeskContext

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
    from desk.lookup import Ambiguous, one_case

    try:
        return one_case(ctx, what).case_id
    except Ambiguous as exc:
        typer.echo(f"error: {exc}", err=True)
        for match in exc.matches:
            typer.echo(f"  {match.reference}  {match.status}  ({match.how})", err=True)
        raise typer.Exit(4) from None


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
    agent: AgentOption = "agent",
    settings: SettingsOption = None,
) -> None:
    """Send an answer through the channel of the customer's latest message; the case becomes pending."""
    from desk.cases import answer

    body = text if text is not None else sys.stdin.read()
    if not body.strip():
        typer.echo("error: the answer is empty", err=True)
        raise typer.Exit(2)
    ctx = _context(settings)
    with store_errors_exit(LookupError, ValueError):
        done = answer(ctx, _one_case(ctx, what), body, agent)
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
def recategorize_message(
    message_id: Annotated[str, typer.Argument(help="the message whose category was wrong")],
    category: Annotated[str, typer.Argument(help="the right category, e.g. refund")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="why: kept with the correction")],
    agent: AgentOption = "agent",
    settings: SettingsOption = None,
) -> None:
    """Correct a message's category: it changes now (and moves queue if still waiting), and `helpline train` learns
    from the correction."""
    from core.redis_conn import connect
    from core.store import Store
    from record.engine import connect as connect_record
    from workers.triage import recategorize

    loaded = settings_or_exit(settings)
    record = connect_record(loaded)
    hot = int(loaded.retention.hot_message_days * 86400)  # an expired hot copy comes back to take the change
    try:
        with store_errors_exit(LookupError, ValueError):
            done = recategorize(Store(connect(loaded)), loaded.router, message_id, category, agent, reason,
                                record=record, warm_seconds=hot)  # fmt: skip
    finally:
        record.dispose()
    typer.echo(f"{done.message_id}: category {done.from_category} -> {done.to_category} (kept for training)")
