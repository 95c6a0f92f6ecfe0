"""Retention of the record (`[retention]` attachments_days, resolved_case_years; record/retention.py), one pass:
plan, apply in one transaction, then delete the files no row points at and the Redis copies of the anonymised
cases. Run by the scheduler every `RETENTION_EVERY_SECONDS` and by `helpline retention [--dry-run]`."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from core.settings import Settings
from core.store import Store
from record.attachments import AttachmentFolder
from record.engine import connect as connect_record
from record.erase_hot import erase_hot
from record.retention import RetentionPlan, apply_retention, plan_retention

log = logging.getLogger("helpline.retention")

# Cut-offs are in days and years: once an hour is exact enough, and the queries use the indexes on the times.
RETENTION_EVERY_SECONDS = 3600


def run_retention(
    settings: Settings, store: Store, now: datetime, *, dry_run: bool = False, engine: Engine | None = None
) -> RetentionPlan:
    """One pass at `now`; with `dry_run`, only the plan (what would go)."""
    own = engine is None
    engine = engine or connect_record(settings)
    try:
        with engine.begin() as connection:
            plan = plan_retention(connection, settings.retention, now)
            if dry_run or not plan:
                return plan
            unused = apply_retention(connection, plan, now)
    finally:
        if own:
            engine.dispose()
    folder = AttachmentFolder.from_settings(settings)
    for ref in unused:
        folder.delete(ref)
    if plan.cases.conversation_ids:
        erase_hot(store, plan.cases, [])
    return plan


def scheduled_retention(settings: Settings, store: Store, now: datetime) -> None:
    """The scheduler's step: a record outage is logged and tried again next time."""
    try:
        plan = run_retention(settings, store, now)
    except OperationalError as exc:
        log.warning("retention: record unavailable (%s); trying again next time", exc)
        return
    if plan:
        log.info("retention: %s", ", ".join(f"{n} {kind}" for kind, n in plan.counts().items()))
