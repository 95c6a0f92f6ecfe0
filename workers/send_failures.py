"""A reply that failed for good is made visible: counted per channel (core/send_failures.py, the Prometheus counter
`helpline_send_failures_total`), logged at warning level, and its case flagged `send_failed` for a supervisor
(core/case_flags.py; the record's reply row carries the failed state and the error). Called once per reply, by
the send job that made it final (workers/jobs.py), which then ends failed."""

from __future__ import annotations

import logging

from core.case_flags import Flag, flag_case
from core.errors import StoreUnavailable
from core.records import Reply, StoredMessage, utcnow
from core.send_failures import count_send_failure
from workers.context import Context

log = logging.getLogger("helpline.send")


def report_send_failure(ctx: Context, reply: Reply, original: StoredMessage | None) -> None:
    case = original.conversation_id if original is not None else None
    log.warning(
        "reply %s (%s, %s) to case %s failed for good after %d attempt(s): %s",
        reply.id, reply.purpose, reply.channel.value, case or "?", reply.attempts, reply.error,
    )  # fmt: skip
    try:
        count_send_failure(ctx.store, reply.channel.value)
        if case is not None:
            flag_case(ctx.store, case, Flag.SEND_FAILED, utcnow())
    except StoreUnavailable:  # the failure is on the reply already; the count and flag are a view of it
        log.warning("reply %s: its failure could not be counted or flagged (store unavailable)", reply.id)
