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

contact_app = typer.Typer(help="A contact's data: export (right of access).", no_args_is_help=True)


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


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
