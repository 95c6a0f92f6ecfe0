"""`helpline agent next QUEUE`, `answer MESSAGE_ID`, `resolve MESSAGE_ID` and `recategorize MESSAGE_ID CATEGORY`: the
agents' side from a terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from helpline.options import SettingsOption, settings_or_exit, store_errors_exit

if TYPE_CHECKING:
    from workers.context import Context

agent_app = typer.Typer(help="Take routed work and answer it.", no_args_is_help=True)

AgentOption = Annotated[str, typer.Option("--as", help="the agent's name, recorded on the message")]


def _context(settings_file: Path | None) -> Context:
    from workers.context import context_for

    return context_for(settings_or_exit(settings_file))


@agent_app.command("next")
def next_item(
    queue: Annotated[str, typer.Argument(help="the queue to take from, e.g. security")],
    agent: AgentOption = "agent",
    settings: SettingsOption = None,
) -> None:
    """Take the most urgent, oldest message waiting in QUEUE and print it as JSON."""
    from workers.agent import take_next

    with store_errors_exit():
        taken = take_next(_context(settings), queue, agent)
    if taken is None:
        typer.echo(f"{queue}: nothing waiting", err=True)
        raise typer.Exit(3)
    message = taken.message
    envelope = message.envelope
    typer.echo(json.dumps({
        "id": message.id, "conversation": message.conversation_id, "channel": envelope.channel.value,
        "from": envelope.sender.model_dump(), "subject": envelope.subject, "text": envelope.text,
        "language": envelope.language, "decision": message.decision.model_dump(mode="json", exclude={"trace"})
        if message.decision else None, "details": envelope.extras.get("details"),
        "missing_details": envelope.extras.get("missing_details"), "notes": message.notes,
        "attachments": [{"index": i, "filename": a.filename, "content_type": a.content_type, "size": a.size}
                        for i, a in enumerate(envelope.attachments, start=1)],  # `helpline agent attachment ID INDEX`
    }, ensure_ascii=False, indent=2))  # fmt: skip


@agent_app.command("answer")
def answer_message(
    message_id: Annotated[str, typer.Argument(help="the message to answer")],
    text: Annotated[str | None, typer.Option("--text", "-t", help="the answer; default: read stdin")] = None,
    agent: AgentOption = "agent",
    settings: SettingsOption = None,
) -> None:
    """Send an answer to the customer through the channel they wrote from."""
    from workers.agent import answer

    body = text if text is not None else sys.stdin.read()
    if not body.strip():
        typer.echo("error: the answer is empty", err=True)
        raise typer.Exit(2)
    with store_errors_exit(LookupError, ValueError):
        reply = answer(_context(settings), message_id, body, agent)
    typer.echo(f"{reply.id}: queued to {reply.to} by {reply.channel.value}")


@agent_app.command("resolve")
def resolve_message(
    message_id: Annotated[str, typer.Argument(help="the message whose issue is solved")],
    agent: AgentOption = "agent",
    settings: SettingsOption = None,
) -> None:
    """Mark a message resolved: it leaves the inbox and its resolution time is recorded against the SLA."""
    from workers.agent import resolve

    with store_errors_exit(LookupError, ValueError):
        done = resolve(_context(settings), message_id, agent)
    typer.echo(f"{done.message_id}: resolved in {done.queue} {done.outcome}")


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
