"""Phone numbers, one rule for the whole project: Twilio's `From`/`To`, a Telegram shared contact, a reply's `To`.

A number counts when libphonenumber finds it *possible* (right length for its country), normalised to E.164.
`is_possible_number` rather than `is_valid_number` (allocated ranges): a newly allocated range the library does not
know yet must not turn a real customer into an unknown one, or split one customer into two contacts by channel.
Shared by ingest (Twilio, Telegram) and channels (the Twilio sender), so it lives in core.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from core.identity import WHATSAPP_PREFIX, phone_identity
from core.record_queue import Item, queue_update
from core.store import Store

# Twilio's error for a recipient who replied STOP to Twilio itself (Advanced Opt-Out): seen on a send and in a
# delivery status callback, and recorded as an opt-out either way (`mark_opted_out`).
UNSUBSCRIBED = 21610


class NotAPhoneNumber(ValueError):
    pass


@dataclass(frozen=True)
class PhoneAddress:
    e164: str
    whatsapp: bool

    @property
    def twilio_address(self) -> str:
        """The form Twilio expects back in `To`/`From`."""
        return WHATSAPP_PREFIX + self.e164 if self.whatsapp else self.e164


def to_e164(raw: str, region: str | None = "US") -> str | None:
    """`raw` as E.164 (`+8613800138000`), or None when it is not a possible phone number.

    `region` (ISO 3166, e.g. "US", "CN") reads numbers written without `+`; with None only international numbers
    (`+…`) parse. Telegram's shared contacts arrive without the `+`: add it and pass None.
    """
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def parse_address(raw: str, default_region: str = "US") -> PhoneAddress:
    """Parse a Twilio `From`/`To`; raise NotAPhoneNumber for caller ids such as `Anonymous` or `+266696687`."""
    value = raw.strip()
    whatsapp = value.lower().startswith(WHATSAPP_PREFIX)
    if whatsapp:
        value = value[len(WHATSAPP_PREFIX) :]
    e164 = to_e164(value, default_region)
    if e164 is None:
        raise NotAPhoneNumber(f"{value!r} is not a possible phone number")
    return PhoneAddress(e164, whatsapp)


def number_or_raw(raw: str, default_region: str = "US") -> str:
    """A Twilio `To` as E.164; a short code (`89898`) or an alphanumeric sender id is kept as sent (without the
    `whatsapp:` prefix), so that replies go out from that same value."""
    try:
        return parse_address(raw, default_region).e164
    except NotAPhoneNumber:
        return raw.strip().removeprefix(WHATSAPP_PREFIX)


def may_receive_sms(e164: str) -> bool:
    """Whether a number can take an SMS: mobiles, and the NANP numbers no one can tell from landlines."""
    number_type = phonenumbers.number_type(phonenumbers.parse(e164))
    return number_type in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        phonenumbers.PhoneNumberType.UNKNOWN,
    )


def opt_out_field(whatsapp: bool) -> str:
    """The contact field that silences our messages to a number: STOP by SMS does not silence WhatsApp."""
    return "whatsapp_opted_out" if whatsapp else "sms_opted_out"


def mark_opted_out(store: Store, address: PhoneAddress, opted_out: bool = True) -> None:
    """Record an opt-out (STOP, or Twilio's error 21610) or an opt-in (START) on the number's contact."""
    contact_id = store.contact_for(phone_identity(address.e164))
    store.set_contact_field(contact_id, opt_out_field(address.whatsapp), "1" if opted_out else "0")
    queue_update(store, Item.CONTACT, contact_id)  # the record follows (core/record_queue.py)
