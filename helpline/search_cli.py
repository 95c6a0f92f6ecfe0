"""`helpline search QUERY`: cases by reference, email address or phone number; otherwise messages, agents' answers
and notes whose text holds QUERY (record/search.py), newest first."""

from __future__ import annotations

from typing import Annotated

import typer

from helpline.options import SettingsOption, settings_or_exit, store_errors_exit


def search_command(
    query: Annotated[str, typer.Argument(help="HL-… reference, email, phone, or text (3+ characters; 1+ Chinese)")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="at most this many hits")] = 50,
    settings: SettingsOption = None,
) -> None:
    """Find cases and the messages, agents' answers and notes that mention something, in the record."""
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError  # here, not at the top: every other command starts without them

    from record.engine import connect as connect_record
    from record.models import Conversation
    from record.search import QueryTooShort, find_conversations, search_text
    from router.normalize import normalize

    loaded = settings_or_exit(settings)
    engine = connect_record(loaded)
    try:
        with store_errors_exit(OperationalError), engine.connect() as connection:
            cases = find_conversations(connection, query, default_region=loaded.twilio.default_region)[:limit]
            if cases:
                columns = (Conversation.reference, Conversation.created_at, Conversation.status, Conversation.queue,
                           Conversation.channel, Conversation.subject)  # fmt: skip
                rows = connection.execute(
                    select(*columns).where(Conversation.id.in_(cases)).order_by(Conversation.created_at.desc())
                ).all()
                for case in rows:
                    typer.echo(
                        f"{case.reference}  {case.created_at:%Y-%m-%d %H:%M}  {case.status:<8} "
                        f"{case.queue or '-':<12} {case.channel:<9} {case.subject}"
                    )
                return
            try:
                hits = search_text(connection, normalize(query), limit=limit)
            except QueryTooShort as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None
            wanted = {hit.conversation_id for hit in hits if hit.conversation_id}
            found = connection.execute(
                select(Conversation.id, Conversation.reference).where(Conversation.id.in_(wanted))
            )
            references = {str(row.id): str(row.reference) for row in found}
    finally:
        engine.dispose()
    if not hits:
        typer.echo("nothing found")
        return
    for hit in hits:
        where = references.get(hit.conversation_id or "", "-")
        excerpt = " ".join(hit.excerpt.split())[:100]
        typer.echo(f"{where:<15} {hit.at:%Y-%m-%d %H:%M}  {hit.kind:<7} {hit.id}  {excerpt}")
