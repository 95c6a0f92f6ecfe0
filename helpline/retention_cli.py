"""`helpline retention [--dry-run]`: apply `[retention]` to the record now (the scheduler does it every hour)."""

from __future__ import annotations

from typing import Annotated

import typer

from core.records import utcnow
from core.redis_conn import connect
from core.store import Store
from helpline.options import SettingsOption, settings_or_exit, store_errors_exit


def retention(
    settings: SettingsOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would go, change nothing")] = False,
) -> None:
    """Remove attachment files and anonymise resolved cases past their `[retention]` lifetimes."""
    from sqlalchemy.exc import OperationalError  # here, not at the top: every other command starts without it

    from record.attachment_store import AttachmentStoreError
    from workers.retention import run_retention

    loaded = settings_or_exit(settings)
    with store_errors_exit(OperationalError, AttachmentStoreError):  # a bucket away: nothing changed, run it again
        plan = run_retention(loaded, Store(connect(loaded)), utcnow(), dry_run=dry_run)
    counts = ", ".join(f"{n} {kind}" for kind, n in plan.counts().items())
    typer.echo(f"would remove {counts} (dry run: nothing changed)" if dry_run else f"removed {counts}")
