"""Twilio webhooks: SMS/MMS/WhatsApp in, the voice menu and voicemail, delivery status of what we sent.

Every request is signature-checked first (403 and a log line, nothing stored, on failure). A message is answered
`200` with empty TwiML only after `Store.accept` has stored it; a store outage answers `503` so Twilio retries or uses
its fallback URL. Payloads that can never become an envelope are dead-lettered raw and answered `200` (a retry would
fail the same way). Blocking store calls run in the thread pool so the event loop keeps serving other webhooks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from channels.twilio_session import record_inbound
from core.envelope import Channel, Envelope
from core.errors import StoreUnavailable
from core.phone import NotAPhoneNumber
from core.records import ReplyState, utcnow
from core.settings import Settings
from core.store import Store
from ingest.twilio import ivr
from ingest.twilio.keywords import KeywordAction
from ingest.twilio.messaging import keyword_action, message_envelope
from ingest.twilio.voicemail import voicemail_envelope
from web import twilio_voicemail
from web.twilio_signature import SignatureCheck, public_base

log = logging.getLogger("helpline.web.twilio")

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
OPT_OUT_FIELD = {Channel.SMS: "sms_opted_out", Channel.WHATSAPP: "whatsapp_opted_out"}
SWEEP_EVERY_SECONDS = 10.0

Handler = Callable[[Request, dict[str, str], bytes], Awaitable[Response]]


def twiml(xml: str, status_code: int = 200) -> Response:
    return Response(xml, status_code=status_code, media_type="text/xml")


def unavailable(exc: StoreUnavailable) -> Response:
    log.error("twilio webhook: store unavailable, answering 503 so Twilio retries: %s", exc)
    return Response("store unavailable", status_code=503, media_type="text/plain")


def phone_identity(e164: str) -> str:
    """The contact identity the worker pipeline uses for sms, whatsapp and voice: one number, one contact."""
    return "phone:" + e164


class TwilioWebhooks:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.twilio = settings.twilio
        self.store = store
        token = settings.twilio.auth_token.get_secret_value() if settings.twilio.auth_token else None
        self.signatures = SignatureCheck(token, settings.web, enabled=settings.twilio.validate_signatures)
        self._last_sweep = 0.0

    def routes(self) -> list[BaseRoute]:
        handlers: dict[str, Handler] = {
            "/twilio/sms": self.sms,
            "/twilio/status": self.status,
            "/twilio/voice": self.voice,
            ivr.LANGUAGE_PATH: self.voice_language,
            ivr.MENU_PATH: self.voice_menu,
            ivr.RECORDING_PATH: self.voice_recording,
            ivr.TRANSCRIPTION_PATH: self.voice_transcription,
        }
        return [Route(path, self._checked(handler), methods=["POST"]) for path, handler in handlers.items()]

    def _checked(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Parse the form and check the signature before `handler` sees anything."""

        async def endpoint(request: Request) -> Response:
            body = await request.body()
            try:
                form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
            except UnicodeDecodeError:
                return Response("form body is not UTF-8", status_code=400)
            problem = self.signatures.problem(request, form)
            if problem:
                client = request.client.host if request.client else "?"
                log.warning("twilio webhook %s from %s refused (403): %s", request.url.path, client, problem)
                return Response("invalid signature", status_code=403, media_type="text/plain")
            return await handler(request, form, body)

        return endpoint

    # ---- messages ----------------------------------------------------------------------------------------------

    async def sms(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        try:
            envelope = message_envelope(
                form,
                default_region=self.twilio.default_region,
                default_language=self.settings.replies.default_language,
            )
        except (KeyError, NotAPhoneNumber, ValueError) as exc:
            return await self._dead_letter(Channel.SMS, body, f"unusable Twilio message webhook: {exc!r}")
        try:
            await run_in_threadpool(self._accept_message, envelope, body)
        except StoreUnavailable as exc:
            return unavailable(exc)
        await self._maybe_sweep()
        return twiml(EMPTY_TWIML)

    def _accept_message(self, envelope: Envelope, body: bytes) -> None:
        accepted = self.store.accept(envelope, body)
        log.info(
            "twilio %s %s stored as %s%s",
            envelope.channel.value,
            envelope.provider_id,
            accepted.message_id,
            " (duplicate)" if accepted.duplicate else "",
        )
        # Applied on duplicates too: if the first attempt died after `accept`, Twilio's retry must still record it.
        action = keyword_action(envelope)
        if action in (KeywordAction.OPT_OUT, KeywordAction.OPT_IN):
            contact_id = self.store.contact_for(phone_identity(envelope.sender.address))
            value = "1" if action is KeywordAction.OPT_OUT else "0"
            self.store.set_contact_field(contact_id, OPT_OUT_FIELD[envelope.channel], value)
        if envelope.channel is Channel.WHATSAPP:
            record_inbound(self.store, envelope.sender.address, envelope.received_at)

    # ---- delivery status ---------------------------------------------------------------------------------------

    async def status(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        try:
            await run_in_threadpool(self._apply_status, form)
        except StoreUnavailable as exc:
            return unavailable(exc)
        return twiml(EMPTY_TWIML)

    def _apply_status(self, form: Mapping[str, str]) -> None:
        """Callbacks may come out of order: https://www.twilio.com/docs/messaging/guides/track-outbound-message-status"""
        sid = form.get("MessageSid") or form.get("SmsSid") or ""
        status = form.get("MessageStatus") or form.get("SmsStatus") or ""
        reply = self.store.reply_by_provider_id(sid) if sid else None
        if reply is None:
            log.info("twilio status %s for unknown message %s ignored", status, sid)
            return
        new_state = _STATUS_STATE.get(status)
        reply.extras["twilio_status"] = status
        if new_state is not None and _RANK[new_state] >= _RANK[reply.state]:
            reply.state = new_state
        if new_state is ReplyState.FAILED:
            code = form.get("ErrorCode", "")
            reply.error = f"twilio {status}" + (f", error {code}" if code else "")
            note = f"reply {reply.id} {status}" + (f" (Twilio error {code})" if code else "")
            with contextlib.suppress(KeyError):  # the inbound message was purged: the reply still records it
                self.store.update_message(reply.message_id, lambda message: message.notes.append(note))
        self.store.save_reply(reply)

    # ---- voice -------------------------------------------------------------------------------------------------

    async def voice(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        await self._maybe_sweep()
        return twiml(ivr.welcome(self.twilio.ivr, self._url_for(request)))

    async def voice_language(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        attempt = _int(request.query_params.get("attempt"), 1)
        return twiml(ivr.language_step(self.twilio.ivr, form, attempt, self._url_for(request)))

    async def voice_menu(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        attempt = _int(request.query_params.get("attempt"), 1)
        lang = request.query_params.get("lang", "")
        return twiml(ivr.menu_step(self.twilio.ivr, lang, form, attempt, self._url_for(request)))

    async def voice_recording(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        lang, category = self._call_state(request)
        goodbye = ivr.goodbye(self.twilio.ivr, lang)
        sid = form.get("RecordingSid")
        if not sid:
            return twiml(goodbye)
        spec = self.twilio.ivr.language(lang)
        try:
            if spec is not None and spec.transcribe:
                payload = {"recording": form, "lang": lang, "category": category}
                await run_in_threadpool(twilio_voicemail.park, self.store, sid, payload, utcnow())
                log.info("twilio voicemail %s parked until its transcript arrives", sid)
            else:
                await run_in_threadpool(self._accept_voicemail, form, None, lang, category)
        except StoreUnavailable as exc:
            return unavailable(exc)
        except (KeyError, NotAPhoneNumber, ValueError) as exc:
            return await self._dead_letter(Channel.VOICE, body, f"unusable Twilio recording callback: {exc!r}")
        return twiml(goodbye)

    async def voice_transcription(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        lang, category = self._call_state(request)
        sid = form.get("RecordingSid", "")
        try:
            parked = await run_in_threadpool(twilio_voicemail.claim, self.store, sid) if sid else None
            # Not parked: it was routed without its transcript (overdue) or parking was lost; the transcription
            # form carries the call's From/To/RecordingUrl, enough for an envelope on its own.
            recording = parked["recording"] if parked else form
            await run_in_threadpool(self._accept_voicemail, recording, form, lang, category)
        except StoreUnavailable as exc:
            return unavailable(exc)
        except (KeyError, NotAPhoneNumber, ValueError) as exc:
            return await self._dead_letter(Channel.VOICE, body, f"unusable Twilio transcription callback: {exc!r}")
        return twiml(EMPTY_TWIML)

    def _accept_voicemail(
        self, recording: Mapping[str, str], transcription: Mapping[str, str] | None, lang: str, category: str | None
    ) -> None:
        envelope = voicemail_envelope(
            recording,
            transcription,
            language=lang,
            category=category,
            default_region=self.twilio.default_region,
        )
        raw = json.dumps({"recording": recording, "transcription": transcription}, ensure_ascii=False).encode()
        accepted = self.store.accept(envelope, raw)
        if accepted.duplicate and envelope.text:
            # The overdue sweep routed it without words; give agents the transcript now that it is here.
            self.store.update_message(accepted.message_id, lambda message: _add_transcript(message.envelope, envelope))
        log.info("twilio voicemail %s stored as %s", envelope.provider_id, accepted.message_id)

    async def _maybe_sweep(self) -> None:
        """Route voicemails whose transcript is overdue. Run from webhooks (throttled) so no extra process is needed."""
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_EVERY_SECONDS:
            return
        self._last_sweep = now
        try:
            await run_in_threadpool(self.sweep_overdue_voicemails)
        except StoreUnavailable as exc:
            log.warning("twilio voicemail sweep skipped: %s", exc)

    def sweep_overdue_voicemails(self) -> int:
        cutoff = utcnow() - timedelta(seconds=self.twilio.ivr.transcription_wait_seconds)
        routed = 0
        for sid in twilio_voicemail.due(self.store, cutoff):
            parked = twilio_voicemail.claim(self.store, sid)
            if parked is None:
                continue  # its transcript won the race
            category = parked.get("category") or None
            self._accept_voicemail(parked["recording"], None, parked.get("lang", "en"), category)
            routed += 1
        return routed

    # ---- helpers -----------------------------------------------------------------------------------------------

    def _call_state(self, request: Request) -> tuple[str, str | None]:
        lang = request.query_params.get("lang", "en")
        category = request.query_params.get("category") or None
        known = self.settings.router.categories
        if category is not None and known and category not in known:
            log.warning("twilio voicemail: menu category %r is no longer configured; routing by content", category)
            category = None
        return lang, category

    def _url_for(self, request: Request) -> ivr.UrlFor:
        base = public_base(request, self.settings.web)

        def url_for(path: str, **query: object) -> str:
            return base + path + ("?" + urlencode(query) if query else "")

        return url_for

    async def _dead_letter(self, channel: Channel, body: bytes, error: str) -> Response:
        log.warning("twilio webhook dead-lettered: %s", error)
        try:
            await run_in_threadpool(self.store.dead_letter, channel, body, error)
        except StoreUnavailable as exc:
            return unavailable(exc)
        return twiml(EMPTY_TWIML)


_STATUS_STATE: dict[str, ReplyState] = {
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
_RANK = {ReplyState.QUEUED: 0, ReplyState.SENT: 1, ReplyState.DELIVERED: 2, ReplyState.FAILED: 2}


def _add_transcript(stored: Envelope, fresh: Envelope) -> None:
    if not stored.text:
        stored.text = fresh.text
    stored.extras.update({key: value for key, value in fresh.extras.items() if value and not stored.extras.get(key)})


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def routes(settings: Settings, store: Store) -> list[BaseRoute]:
    if not settings.twilio.validate_signatures:
        log.warning(
            "[twilio] validate_signatures is false: anyone can post forged SMS, WhatsApp and voice webhooks. "
            "Turn it back on in production."
        )
    elif settings.twilio.auth_token is None:
        log.warning("HELPLINE_TWILIO__AUTH_TOKEN is not set: every Twilio webhook will be refused (403)")
    return TwilioWebhooks(settings, store).routes()
