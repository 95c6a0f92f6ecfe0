"""Twilio's delivery status callbacks (`POST /twilio/status`) onto the replies we sent.

Callbacks come out of order and concurrently, and can beat the worker that saves the reply's SID:
`Store.record_provider_status` moves a reply's state only forward, under WATCH, and parks a status for a SID it does
not know yet until `save_reply` applies it. https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
A failure with error 21610 (the recipient replied STOP to Twilio) also marks the contact opted out.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping

from core.phone import UNSUBSCRIBED, NotAPhoneNumber, mark_opted_out, parse_address
from core.record_queue import Item, queue_update
from core.records import Reply, ReplyState
from core.store import Store

log = logging.getLogger("helpline.ingest.twilio")

STATUS_STATE: dict[str, ReplyState] = {
    "accepted": ReplyState.QUEUED,
    "scheduled": ReplyState.QUEUED,
    "queued": ReplyState.QUEUED,
    "sending": ReplyState.QUEUED,
    "sent": ReplyState.SENT,
    "delivered": ReplyState.DELIVERED,
    "read": ReplyState.DELIVERED,  # WhatsApp
    "undelivered": ReplyState.FAILED,
    "failed": ReplyState.FAILED,
    "canceled": ReplyState.FAILED,
}


def apply_status(store: Store, form: Mapping[str, str], default_region: str = "US") -> Reply | None:
    """The reply as updated, or None (unknown status, or parked until the reply is saved)."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    state = STATUS_STATE.get(status)
    if not sid or state is None:
        log.info("twilio status %r for %r ignored", status, sid)
        return None
    code = form.get("ErrorCode", "")
    error = f"twilio {status}" + (f", error {code}" if code else "") if state is ReplyState.FAILED else None
    if code == str(UNSUBSCRIBED):
        _opted_out(store, form.get("To", ""), default_region)
    reply = store.record_provider_status(sid, state, error)
    if reply is None:
        log.info("twilio status %s for %s kept until its reply is saved", status, sid)
        return None
    if state is ReplyState.FAILED:
        note = f"reply {reply.id} {status}" + (f" (Twilio error {code})" if code else "")
        with contextlib.suppress(KeyError):  # the inbound message was purged: the reply still records it
            store.update_message(reply.message_id, lambda message: _note_once(message.notes, note))
            queue_update(store, Item.MESSAGE, reply.message_id)
    queue_update(store, Item.REPLY, reply.id)  # the record follows, in a job: this answer never waits for it
    return reply


def _note_once(notes: list[str], note: str) -> None:
    if note not in notes:  # Twilio retries a callback it got no 2xx for
        notes.append(note)


def _opted_out(store: Store, to: str, default_region: str) -> None:
    try:
        mark_opted_out(store, parse_address(to, default_region))
    except NotAPhoneNumber:
        log.warning("twilio error 21610 for %r, which is not a phone number: opt-out not recorded", to)
