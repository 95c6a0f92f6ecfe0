"""`helpline contact export ADDRESS|PHONE`: everything held about a contact, as JSON (audited)."""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from core.records import utcnow
from core.redis_conn import connect
from core.store import Store
from helpline.options import SettingsOption, settings_or_exit, store_errors_exit

contact_app = typer.Typer(
    help="A contact's data: export (right of access), erase (right to erasure).", no_args_is_help=True
)


@contact_app.command("export")
def export(
    who: Annotated[str, typer.Argument(help="the contact's email address or phone number")],
    settings: SettingsOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the JSON here (default: stdout)")] = None,
    actor: Annotated[str | None, typer.Option("--as", help="who asks, for the audit log (default: you)")] = None,
) -> None:
    """Write everything Helpline holds about a contact as JSON; the export is recorded in the audit log."""
    from sqlalchemy.exc import OperationalError  # here, not at the top: every other command starts without them

    from record.engine import connect as connect_record
    from record.export import contact_for_identity, export_contact
    from record.search import contact_identity

    loaded = settings_or_exit(settings)
    identity = contact_identity(who, loaded.twilio.default_region)
    if identity is None:
        typer.echo(f"error: {who!r} is neither an email address nor a phone number", err=True)
        raise typer.Exit(2)
    engine = connect_record(loaded)
    try:
        with store_errors_exit(OperationalError), engine.begin() as connection:
            contact_id = contact_for_identity(connection, identity)
            if contact_id is None:
                typer.echo(f"error: no contact is known as {identity}", err=True)
                raise typer.Exit(1)
            data = export_contact(
                connection, contact_id, Store(connect(loaded)), actor=actor or getpass.getuser(), now=utcnow()
            )
    finally:
        engine.dispose()
    document = json.dumps(data, ensure_ascii=False, indent=2, default=_json_value)
    if out is None:
        typer.echo(document)
    else:
        out.write_text(document + "\n", encoding="utf-8")
        typer.echo(f"{identity}: exported to {out}", err=True)


@contact_app.command("erase")
def erase(
    who: Annotated[str, typer.Argument(help="the contact's email address or phone number")],
    settings: SettingsOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would be erased, change nothing")] = False,
    actor: Annotated[str | None, typer.Option("--as", help="who asks, for the audit log (default: you)")] = None,
) -> None:
    """Anonymise a contact: its identities, texts and attachments go, the rows reports count stay (record/erase.py);
    its copies in Redis go too, and in-flight messages of its are dropped. Backups and logs are out of reach."""
    from sqlalchemy.exc import OperationalError

    from record.attachment_store import AttachmentStoreError, open_attachment_store
    from record.engine import connect as connect_record
    from record.erase import addresses_of, erase_record, plan_erasure, vacuum
    from record.erase_hot import erase_hot, mark_erased, rewrite_aof
    from record.export import contact_for_identity
    from record.search import contact_identity

    loaded = settings_or_exit(settings)
    identity = contact_identity(who, loaded.twilio.default_region)
    if identity is None:
        typer.echo(f"error: {who!r} is neither an email address nor a phone number", err=True)
        raise typer.Exit(2)
    store = Store(connect(loaded))
    engine = connect_record(loaded)
    try:
        with store_errors_exit(OperationalError, AttachmentStoreError):
            with engine.connect() as connection:
                contact_id = contact_for_identity(connection, identity)
                if contact_id is None:
                    typer.echo(f"error: no contact is known as {identity}", err=True)
                    raise typer.Exit(1)
                plan = plan_erasure(connection, contact_id)
            counts = ", ".join(f"{n} {kind}" for kind, n in plan.counts().items())
            if dry_run:
                typer.echo(f"{identity}: would erase {counts} (dry run: nothing changed)")
                return
            now = utcnow()
            mark_erased(store, plan.identities, now)  # first: a job that runs from now on drops its messages
            # The files before the record: a store that fails (a bucket away) stops the erasure while the record
            # still knows the contact and its refs, so running it again finishes it. The other order would leave
            # content no row points at any more, which nothing would ever remove.
            open_attachment_store(loaded).delete(*plan.refs)
            with engine.begin() as connection:
                erase_record(connection, plan, actor=actor or getpass.getuser(), now=now)
            erase_hot(store, plan, addresses_of(plan.identities))
            rewrite_aof(store)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                vacuum(connection)
    finally:
        engine.dispose()
    typer.echo(f"{identity}: erased {counts}")


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
