"""`helpline flagged`: the cases flagged for a supervisor, newest first: `low_score` (a survey score of 1 or 2 with a
comment) and `send_failed` (a reply that failed for good); `--clear CASE --kind KIND` takes one off the list once
seen to (the record keeps the flag on the case)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from core.case_flags import Flag, clear_flag, flagged
from core.ids import conversation_reference
from core.redis_conn import connect
from core.store import Store
from helpline.options import SettingsOption, settings_or_exit, store_errors_exit


def flagged_command(
    kind: Annotated[Flag | None, typer.Option("--kind", help="only this kind of flag")] = None,
    clear: Annotated[
        str | None, typer.Option("--clear", help="a case (t-…) to take off the list (with --kind)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    settings: SettingsOption = None,
) -> None:
    """List the cases flagged for a supervisor (low survey scores with a comment, replies that failed for good)."""
    store = Store(connect(settings_or_exit(settings)))
    with store_errors_exit():
        if clear is not None:
            if kind is None:
                typer.echo("error: --clear needs --kind (low_score or send_failed)", err=True)
                raise typer.Exit(2)
            if not clear_flag(store, clear, kind):
                typer.echo(f"error: case {clear} is not flagged {kind.value}", err=True)
                raise typer.Exit(1)
            typer.echo(f"case {clear}: {kind.value} cleared")
            return
        cases = flagged(store, (kind,) if kind is not None else tuple(Flag))
    for case in cases:
        reference = conversation_reference(case.conversation_id)
        if as_json:
            row = {"case": case.conversation_id, "reference": reference, "flag": case.kind.value,
                   "at": case.at.isoformat()}  # fmt: skip
            typer.echo(json.dumps(row))
        else:
            typer.echo(f"{case.at:%Y-%m-%d %H:%M}  {case.kind.value:<11}  {reference}  {case.conversation_id}")
    if not cases and not as_json:
        typer.echo("no flagged cases")
