"""Replies by SMS, WhatsApp and (for voicemails) SMS to the caller, through the Twilio Messages API.

A reply answers from the number the customer wrote to (`original.recipient`), or through the Messaging Service when
one is configured, so the customer sees one conversation. Voicemail callers get their acknowledgement by SMS from the
number they called (or `[twilio] sms_from` / the Messaging Service) when their number can take an SMS; a landline
caller already heard "we have your message" at the end of the call, so nothing more is attempted for them.

Errors (https://www.twilio.com/docs/api/errors): 429, 20429 and 5xx and network failures are transient; invalid or
unreachable numbers (21211, 21614, 21612, 21408), opted-out recipients (21610), WhatsApp outside the session window
(63016) and any other 4xx are permanent. 21610 means the recipient replied STOP to Twilio itself (Advanced Opt-Out
answered, we never saw it): the contact is marked opted out too, so nothing more is attempted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from channels.sms_text import fit, truncate
from channels.twilio_session import last_inbound
from core.envelope import Channel, Envelope
from core.errors import PermanentSendError, TransientSendError
from core.identity import WHATSAPP_PREFIX, phone_identity
from core.phone import (
    UNSUBSCRIBED,
    NotAPhoneNumber,
    PhoneAddress,
    mark_opted_out,
    may_receive_sms,
    opt_out_field,
    parse_address,
)
from core.records import Reply
from core.settings import Settings
from core.store import Store

TRANSIENT_CODES = frozenset({20429, 20500, 20503})
PERMANENT_REASONS = {
    21211: "invalid phone number",
    21408: "no permission to send to that region",
    UNSUBSCRIBED: "recipient opted out (replied STOP)",
    21612: "number not reachable from this sender",
    21614: "not a mobile number",
    63016: "outside the WhatsApp 24-hour window",
}


class TwilioSender:
    def __init__(self, settings: Settings, store: Store, client: Client | None = None) -> None:
        self.settings = settings
        self.twilio = settings.twilio
        self.store = store
        self._client = client

    @property
    def client(self) -> Client:
        if self._client is None:
            if not self.twilio.account_sid or self.twilio.auth_token is None:
                raise PermanentSendError(
                    "Twilio is not configured: set [twilio] account_sid and HELPLINE_TWILIO__AUTH_TOKEN"
                )
            http = TwilioHttpClient(timeout=self.twilio.request_timeout_seconds)
            self._client = Client(self.twilio.account_sid, self.twilio.auth_token.get_secret_value(), http_client=http)
            if self.twilio.api_base_url:
                # Domain.absolute_url reads base_url on every request; no edge or region is set, so this is used as is.
                self._client.api.base_url = self.twilio.api_base_url.rstrip("/")
        return self._client

    def send(self, reply: Reply, original: Envelope) -> str:
        channel = original.channel
        to = self._recipient(reply.to, channel)
        self._refuse_opted_out(to)
        if channel is Channel.WHATSAPP:
            self._require_session_window(to, original)
        params: dict[str, Any] = {"to": to.twilio_address, "body": self._body(reply.text, channel)}
        params |= self._sender_params(original, channel)
        if self.settings.web.public_url:
            params["status_callback"] = self.settings.web.public_url.rstrip("/") + "/twilio/status"
        try:
            message = self.client.messages.create(**params)
        except TwilioRestException as exc:
            if exc.code == UNSUBSCRIBED:
                mark_opted_out(self.store, to)
            raise map_error(exc) from exc
        except OSError as exc:  # requests' ConnectionError and Timeout are OSErrors
            raise TransientSendError(f"Twilio unreachable: {exc}") from exc
        return str(message.sid)

    def _recipient(self, address: str, channel: Channel) -> PhoneAddress:
        try:
            parsed = parse_address(address, self.twilio.default_region)
        except NotAPhoneNumber as exc:
            raise PermanentSendError(f"cannot reply by {channel.value}: {exc}") from None
        if channel is Channel.VOICE and not may_receive_sms(parsed.e164):
            raise PermanentSendError(f"voicemail caller {parsed.e164} is not a mobile number; no SMS acknowledgement")
        return PhoneAddress(parsed.e164, whatsapp=channel is Channel.WHATSAPP)

    def _refuse_opted_out(self, to: PhoneAddress) -> None:
        contact = self.store.contact(self.store.contact_for(phone_identity(to.e164)))
        if contact.get(opt_out_field(to.whatsapp)) == "1":
            raise PermanentSendError("recipient opted out")

    def _require_session_window(self, to: PhoneAddress, original: Envelope) -> None:
        latest = max(filter(None, (original.received_at, last_inbound(self.store, to.e164))))
        window = timedelta(hours=self.twilio.whatsapp_window_hours)
        if datetime.now(UTC) - latest > window:
            raise PermanentSendError(
                f"outside the WhatsApp {self.twilio.whatsapp_window_hours}-hour window (customer last wrote at "
                f"{latest.isoformat()}); a free-form reply is not allowed, only an approved template"
            )

    def _sender_params(self, original: Envelope, channel: Channel) -> dict[str, str]:
        wrote_to = original.recipient.address if original.recipient else None
        if channel is Channel.WHATSAPP:
            number = wrote_to or self.twilio.whatsapp_from
            if not number:
                raise PermanentSendError("no WhatsApp sender: set [twilio] whatsapp_from")
            return {"from_": WHATSAPP_PREFIX + number.removeprefix(WHATSAPP_PREFIX)}
        if self.twilio.messaging_service_sid:
            return {"messaging_service_sid": self.twilio.messaging_service_sid}
        # A voice number may not take SMS; an explicit sms_from wins for voicemail acknowledgements.
        number = (self.twilio.sms_from or wrote_to) if channel is Channel.VOICE else (wrote_to or self.twilio.sms_from)
        if not number:
            raise PermanentSendError("no SMS sender: set [twilio] sms_from or messaging_service_sid")
        return {"from_": number}

    def _body(self, text: str, channel: Channel) -> str:
        if channel is Channel.WHATSAPP:
            return truncate(text)
        return fit(text, self.twilio.max_sms_segments)


def map_error(exc: TwilioRestException) -> TransientSendError | PermanentSendError:
    code = exc.code or 0
    detail = f"Twilio {exc.status}" + (f" error {code}" if code else "") + f": {exc.msg}"
    if exc.status == 429 or exc.status >= 500 or code in TRANSIENT_CODES:
        return TransientSendError(detail)
    reason = PERMANENT_REASONS.get(code)
    return PermanentSendError(f"{reason} ({detail})" if reason else detail)
