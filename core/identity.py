"""Contact identities: the strings a contact is found by in the store (`identity:{identity}` -> contact id).

One phone number is one contact across SMS, WhatsApp and voice; an email address is one contact whatever its case;
a Telegram user is one contact by their numeric id (a shared phone number links it to the phone's contact too).
Every adapter and sender builds identities here, so the same person is never two contacts by accident.
"""

from __future__ import annotations

from core.envelope import Channel

# Twilio addresses WhatsApp numbers as "whatsapp:+8613…"; the number behind the prefix is the phone identity.
WHATSAPP_PREFIX = "whatsapp:"
PHONE_CHANNELS = (Channel.SMS, Channel.WHATSAPP, Channel.VOICE)


def phone_identity(e164: str) -> str:
    """The identity of an E.164 number: SMS, WhatsApp and voice from one number are one contact."""
    return "phone:" + e164


def email_identity(address: str) -> str:
    return "email:" + address.lower()


def telegram_identity(user_id: int | str) -> str:
    return f"telegram:{user_id}"


def identity_of(channel: Channel, address: str) -> str | None:
    """The identity a message's sender is found by.

    None for a sender that identifies no one (a withheld caller id): such messages must not pile up in one contact.
    """
    if channel in PHONE_CHANNELS:
        number = address.removeprefix(WHATSAPP_PREFIX)
        return phone_identity(number) if number.startswith("+") else None
    if channel is Channel.EMAIL:
        return email_identity(address)
    if channel is Channel.TELEGRAM:
        return telegram_identity(address)
    return f"{channel.value}:{address}"  # a channel added later: its own address space
