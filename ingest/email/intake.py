"""What the SMTP server and the IMAP poller do with a raw mail once they have it, and what `helpline replay` redoes.

parse -> on failure, a dead letter -> otherwise accept (dedupe, store and enqueue, atomically; core/store.py).
A mail the parser cannot read is never lost: it is kept raw with its transport's metadata, and `helpline replay`
runs it through `envelope_of` again after the fix, so a replayed mail becomes the envelope it would have been.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.envelope import Channel, Envelope
from core.errors import ParseError
from core.records import utcnow
from core.settings import Settings
from core.store import Store
from ingest.email.parse import parse_email
from ingest.email.smtp_envelope import with_smtp_envelope

log = logging.getLogger("helpline.email")


@dataclass(frozen=True)
class Intake:
    id: str  # the stored message's id, or the dead letter's
    duplicate: bool = False  # stored before (same Message-ID): `id` is the earlier message
    dead_letter: bool = False  # not parsed: kept raw for replay as dead letter `id`


def envelope_of(raw: bytes, meta: dict[str, Any], settings: Settings, received_at: datetime | None = None) -> Envelope:
    """Parse a mail and add what its transport knew: an SMTP transaction's return path and recipients (`mail_from`,
    `rcpt_tos`) count as they did then; other metadata (where the IMAP poller found it) goes into the extras."""
    # Arrival is now: the sender's Date header is kept in the extras, but it is the customer's clock (or a
    # spammer's), and SLA clocks and queue order must not depend on it.
    envelope = parse_email(
        raw,
        max_attachment_bytes=settings.email.max_attachment_bytes,
        max_text_chars=settings.email.max_text_chars,
        received_at=received_at or utcnow(),
    )
    if "rcpt_tos" in meta:
        return with_smtp_envelope(envelope, str(meta.get("mail_from") or ""), [str(r) for r in meta["rcpt_tos"]])
    return envelope.model_copy(update={"extras": {**envelope.extras, **meta}}) if meta else envelope


def take_in(store: Store, settings: Settings, raw: bytes, meta: dict[str, Any]) -> Intake:
    """Store one mail, or keep it as a dead letter when it cannot be parsed. `StoreUnavailable` propagates: the
    caller must not acknowledge the mail (SMTP 451, IMAP leaves it unseen)."""
    try:
        envelope = envelope_of(raw, meta, settings)
    except ParseError as exc:
        error = f"parse error: {exc}"
    except Exception as exc:  # a parser bug must not lose the mail: keep it raw for replay
        log.exception("parser crashed")
        error = f"parser crashed: {exc!r}"
    else:
        accepted = store.accept(envelope, raw)
        if not accepted.duplicate:
            log.info("stored %s from %s", accepted.message_id, envelope.sender.address)
        return Intake(accepted.message_id, duplicate=accepted.duplicate)
    letter = store.dead_letter(Channel.EMAIL, raw, error, meta)
    log.error("dead-lettered %s: %s", letter, error)
    return Intake(letter, dead_letter=True)
