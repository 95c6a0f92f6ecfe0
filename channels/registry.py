"""Which Sender serves which channel. Each channel module registers a factory here; workers look it up."""

from __future__ import annotations

from collections.abc import Callable

from channels.base import Sender
from core.envelope import Channel
from core.settings import Settings
from core.store import Store

SenderFactory = Callable[[Settings, Store], Sender]


def _email(settings: Settings, store: Store) -> Sender:
    from channels.email import EmailSender

    return EmailSender(settings.email.outbound)


def _telegram(settings: Settings, store: Store) -> Sender:
    from channels.telegram import TelegramSender

    return TelegramSender(settings.telegram, store)


def _twilio(settings: Settings, store: Store) -> Sender:
    from channels.twilio import TwilioSender

    return TwilioSender(settings, store)


SENDER_FACTORIES: dict[Channel, SenderFactory] = {
    Channel.SMS: _twilio,
    Channel.WHATSAPP: _twilio,
    Channel.VOICE: _twilio,
    Channel.TELEGRAM: _telegram,
    Channel.EMAIL: _email,
}


def sender_for(channel: Channel, settings: Settings, store: Store) -> Sender:
    try:
        factory = SENDER_FACTORIES[channel]
    except KeyError:
        raise LookupError(f"no sender for channel {channel.value!r}") from None
    return factory(settings, store)
