"""Phone addresses as Twilio sends them (`+15551234567`, `whatsapp:+8613800138000`), normalised to E.164.

Shared by the Twilio adapter (ingest) and the Twilio sender (channels), so it lives in core.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

WHATSAPP_PREFIX = "whatsapp:"


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


def parse_address(raw: str, default_region: str = "US") -> PhoneAddress:
    """Parse a Twilio `From`/`To`; raise NotAPhoneNumber for caller ids such as `Anonymous` or `+266696687`."""
    value = raw.strip()
    whatsapp = value.lower().startswith(WHATSAPP_PREFIX)
    if whatsapp:
        value = value[len(WHATSAPP_PREFIX) :]
    return PhoneAddress(to_e164(value, default_region), whatsapp)


def to_e164(value: str, default_region: str = "US") -> str:
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        raise NotAPhoneNumber(f"{value!r} is not a phone number: {exc}") from None
    # `is_possible` (length) rather than `is_valid` (allocated ranges): a newly allocated range the library does not
    # know yet must not turn a real customer into an unknown one.
    if not phonenumbers.is_possible_number(number):
        raise NotAPhoneNumber(f"{value!r} is not a possible phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def may_receive_sms(e164: str) -> bool:
    """Whether a number can take an SMS: mobiles, and the NANP numbers no one can tell from landlines."""
    number_type = phonenumbers.number_type(phonenumbers.parse(e164))
    return number_type in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        phonenumbers.PhoneNumberType.UNKNOWN,
    )
