"""An inbound SMS, MMS or WhatsApp message into the store, with what its keyword says about the contact.

STOP-type keywords set `sms_opted_out` / `whatsapp_opted_out` to 1 (START-type back to 0); HELP-type keywords set
`sms_last_help_at` / `whatsapp_last_help_at` to when it was sent. None of them is ever acknowledged (the envelope's
`suppress_ack_reason`, set by ingest/twilio/messaging.py): for STOP and HELP Twilio's Advanced Opt-Out answers with
the account's own compliance text, and a second answer from us would be noise.
"""

from __future__ import annotations

import logging

from core.envelope import Channel, Envelope
from core.identity import phone_identity
from core.phone import PhoneAddress, mark_opted_out
from core.store import Accepted, Store
from ingest.twilio.keywords import KeywordAction
from ingest.twilio.messaging import keyword_action

log = logging.getLogger("helpline.ingest.twilio")


def accept_message(store: Store, envelope: Envelope, raw: bytes) -> Accepted:
    accepted = store.accept(envelope, raw)
    log.info(
        "twilio %s %s stored as %s%s",
        envelope.channel.value,
        envelope.provider_id,
        accepted.message_id,
        " (duplicate)" if accepted.duplicate else "",
    )
    # Applied on duplicates too: if the first attempt died after `accept`, Twilio's retry must still record it.
    record_keyword(store, envelope)
    return accepted


def record_keyword(store: Store, envelope: Envelope) -> None:
    action = keyword_action(envelope)
    if action is None:
        return
    address = PhoneAddress(envelope.sender.address, whatsapp=envelope.channel is Channel.WHATSAPP)
    if action is KeywordAction.HELP:
        contact_id = store.contact_for(phone_identity(address.e164))
        store.set_contact_field(contact_id, f"{envelope.channel.value}_last_help_at", envelope.received_at.isoformat())
    else:
        mark_opted_out(store, address, opted_out=action is KeywordAction.OPT_OUT)
