"""Retention of the record (`[retention]` attachments_days, resolved_case_years; record/retention.py), one pass:
plan, apply in one transaction and, before it commits, delete the attachments no row points at any more; then the
Redis copies of the anonymised cases. Run by the scheduler every `RETENTION_EVERY_SECONDS` and by
`helpline retention [--dry-run]`.

The attachments go before the commit, not after: a store that fails then (a bucket away) rolls the pass back and the
next pass tries again, where after the commit no row would point at the content any more and nothing would ever
remove it. A commit that fails after the deletions leaves rows pointing at content that is gone, which they were
due to lose anyway: the next pass clears them."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from core.settings import Settings
from core.store import Store
from record.attachment_store import AttachmentStoreError, open_attachment_store
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
            open_attachment_store(settings).delete(*unused)
    finally:
        if own:
            engine.dispose()
    if plan.cases.conversation_ids:
        erase_hot(store, plan.cases, [])
    return plan


def scheduled_retention(settings: Settings, store: Store, now: datetime) -> None:
    """The scheduler's step: a record outage is logged and tried again next time."""
    try:
        plan = run_retention(settings, store, now)
    except (OperationalError, AttachmentStoreError) as exc:
        log.warning("retention: record or attachment store unavailable (%s); trying again next time", exc)
        return
    if plan:
        log.info("retention: %s", ", ".join(f"{n} {kind}" for kind, n in plan.counts().items()))
