"""Twilio webhooks over HTTP: SMS/MMS/WhatsApp in, the voice menu, voicemails and calls, delivery status.

This module is the HTTP shell; what each webhook stores is decided in ingest/twilio/ (envelopes, intake, parking).
Every request is signature-checked first (403 and a log line, nothing stored, on failure). A message is answered
`200` with empty TwiML only after `Store.accept` has stored it; a store outage answers `503` so Twilio retries or uses
its fallback URL. Payloads that can never become an envelope are dead-lettered raw with the endpoint and query
(`helpline replay` parses them again after a fix) and answered `200`: a retry would fail the same way. Blocking
store calls run in the thread pool so the event loop keeps serving other webhooks.

Never a 500 (web/webhook_guard.py): a body that is not UTF-8 is a 400, one over the size cap a 413 (its signature
cannot be checked without all of it, so nothing of it is kept; no form Twilio sends comes near the cap). An error
nobody foresaw in a signed request dead-letters the form (endpoints that store something) and answers the TwiML the
endpoint owes: an empty response, the goodbye after a recording, and on the menu's steps a plain voicemail prompt,
so a caller caught by a bug can still leave a message. Twilio does not retry a message webhook that failed (it
logs error 11200 and calls the fallback URL if one is set), and a caller who gets a 5xx hears "an application error
has occurred": a 200 with TwiML is the only answer that keeps both going.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from channels.twilio_session import record_inbound
from core.envelope import Channel, Envelope
from core.errors import StoreUnavailable
from core.phone import NotAPhoneNumber
from core.records import utcnow
from core.settings import Settings
from core.store import Store
from ingest.twilio import call_state, ivr, voicemail_parking
from ingest.twilio.delivery_status import apply_status
from ingest.twilio.message_intake import accept_message
from ingest.twilio.messaging import message_envelope
from ingest.twilio.replay import SMS_PATH, dead_letter_meta, parse_form
from ingest.twilio.voice_intake import accept_missed_call, accept_voicemail
from web.twilio_signature import SignatureCheck, public_base
from web.webhook_guard import MAX_BODY_BYTES, OnCrash, authenticated, guarded, read_body

log = logging.getLogger("helpline.web.twilio")

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
UNUSABLE = (KeyError, NotAPhoneNumber, ValueError)  # a payload that no retry will fix

Handler = Callable[[Request, dict[str, str], bytes], Awaitable[Response]]
Fallback = Callable[[Request], str]  # the TwiML an endpoint answers when it crashed


def twiml(xml: str, status_code: int = 200) -> Response:
    return Response(xml, status_code=status_code, media_type="text/xml")


def unavailable(exc: StoreUnavailable) -> Response:
    log.error("twilio webhook: store unavailable, answering 503 so Twilio retries: %s", exc)
    return Response("store unavailable", status_code=503, media_type="text/plain")


class TwilioWebhooks:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.twilio = settings.twilio
        self.store = store
        token = settings.twilio.auth_token.get_secret_value() if settings.twilio.auth_token else None
        self.signatures = SignatureCheck(token, settings.web, enabled=settings.twilio.validate_signatures)

    def routes(self) -> list[BaseRoute]:
        # path: (handler, channel its payload is dead-lettered under (None: it stores nothing), TwiML after a crash)
        handlers: dict[str, tuple[Handler, Channel | None, Fallback]] = {
            SMS_PATH: (self.sms, Channel.SMS, empty),
            "/twilio/status": (self.status, None, empty),
            "/twilio/voice": (self.voice, None, self._plain_voicemail),
            ivr.LANGUAGE_PATH: (self.voice_language, None, self._plain_voicemail),
            ivr.MENU_PATH: (self.voice_menu, None, self._plain_voicemail),
            ivr.RECORDING_PATH: (self.voice_recording, Channel.VOICE, self._goodbye),
            ivr.TRANSCRIPTION_PATH: (self.voice_transcription, Channel.VOICE, empty),
            ivr.CALL_STATUS_PATH: (self.call_status, Channel.VOICE, empty),
        }
        return [
            Route(path, guarded(self._checked(handler), self._on_crash(channel, fallback)), methods=["POST"])
            for path, (handler, channel, fallback) in handlers.items()
        ]

    def _checked(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Parse the form and check the signature before `handler` sees anything."""

        async def endpoint(request: Request) -> Response:
            body = await read_body(request)
            if body.oversize:
                log.warning("twilio webhook %s refused (413): %d+ bytes", request.url.path, body.size)
                return Response(f"body over {MAX_BODY_BYTES} bytes", status_code=413, media_type="text/plain")
            try:
                form = parse_form(body.data)
            except ValueError:
                return Response("form body is not UTF-8", status_code=400)
            problem = self.signatures.problem(request, form)
            if problem:
                client = request.client.host if request.client else "?"
                log.warning("twilio webhook %s from %s refused (403): %s", request.url.path, client, problem)
                return Response("invalid signature", status_code=403, media_type="text/plain")
            authenticated(request, body.data)
            return await handler(request, form, body.data)

        return endpoint

    def _on_crash(self, channel: Channel | None, fallback: Fallback) -> OnCrash:
        async def on_crash(request: Request, body: bytes | None, reason: str) -> Response:
            if channel is not None:
                if body is None:  # failed before the signature was checked: nothing may be kept, so ask again
                    return Response("try again", status_code=503, media_type="text/plain")
                meta = dead_letter_meta(request.url.path, dict(request.query_params))
                await run_in_threadpool(self.store.dead_letter, channel, body, reason, meta)
            return twiml(fallback(request))

        return on_crash

    def _plain_voicemail(self, request: Request) -> str:
        lang = self.twilio.ivr.language(self.settings.replies.default_language)
        return ivr.voicemail(lang, None, self.twilio.ivr, self._url_for(request))

    def _goodbye(self, request: Request) -> str:
        return ivr.goodbye(self.twilio.ivr, request.query_params.get("lang", ""))

    # ---- messages ----------------------------------------------------------------------------------------------

    async def sms(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        try:
            envelope = message_envelope(
                form,
                default_region=self.twilio.default_region,
                default_language=self.settings.replies.default_language,
            )
        except UNUSABLE as exc:
            return await self._dead_letter(Channel.SMS, request, body, f"unusable Twilio message webhook: {exc!r}")
        try:
            await run_in_threadpool(self._accept_message, envelope, body)
        except StoreUnavailable as exc:
            return unavailable(exc)
        return twiml(EMPTY_TWIML)

    def _accept_message(self, envelope: Envelope, body: bytes) -> None:
        accept_message(self.store, envelope, body)
        if envelope.channel is Channel.WHATSAPP:
            record_inbound(self.store, envelope.sender.address, envelope.received_at)

    async def status(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        try:
            await run_in_threadpool(apply_status, self.store, form, self.twilio.default_region)
        except StoreUnavailable as exc:
            return unavailable(exc)
        return twiml(EMPTY_TWIML)

    # ---- voice -------------------------------------------------------------------------------------------------

    async def voice(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        return twiml(ivr.welcome(self.twilio.ivr, self._url_for(request)))

    async def voice_language(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        attempt = _int(request.query_params.get("attempt"), 1)
        chosen = ivr.choose_language(self.twilio.ivr, form.get("Digits", ""), form.get("SpeechResult", ""))
        if chosen is not None:
            await self._remember_choice(form, chosen.code, None)
        return twiml(ivr.language_step(self.twilio.ivr, form, attempt, self._url_for(request)))

    async def voice_menu(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        attempt = _int(request.query_params.get("attempt"), 1)
        lang = request.query_params.get("lang", "")
        option = ivr.choose_option(self.twilio.ivr, lang, form.get("Digits", ""), form.get("SpeechResult", ""))
        if self.twilio.ivr.language(lang) is not None:
            await self._remember_choice(form, lang, option.category if option else None)
        return twiml(ivr.menu_step(self.twilio.ivr, lang, form, attempt, self._url_for(request)))

    async def _remember_choice(self, form: Mapping[str, str], lang: str, category: str | None) -> None:
        """For the call status callback, which carries no menu state. Best effort: the call itself goes on."""
        call_sid = form.get("CallSid")
        if not call_sid:
            return
        try:
            await run_in_threadpool(call_state.remember_choice, self.store, call_sid, lang, category)
        except StoreUnavailable as exc:
            log.warning("twilio call %s: menu choice not kept: %s", call_sid, exc)

    async def voice_recording(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        lang, category = self._call_state(request)
        goodbye = ivr.goodbye(self.twilio.ivr, lang)
        sid = form.get("RecordingSid")
        if not sid:  # Twilio always names the recording: without it there is nothing to fetch
            error = "unusable Twilio recording callback: no RecordingSid"
            return await self._dead_letter(Channel.VOICE, request, body, error, answer=goodbye)
        spec = self.twilio.ivr.language(lang)
        try:
            if spec is not None and spec.transcribe:
                payload = {"recording": form, "lang": lang, "category": category}
                await run_in_threadpool(voicemail_parking.park, self.store, sid, payload, utcnow())
                log.info("twilio voicemail %s parked until its transcript arrives", sid)
            else:
                await run_in_threadpool(accept_voicemail, self.settings, self.store, form, None, lang, category)
        except StoreUnavailable as exc:
            return unavailable(exc)
        except UNUSABLE as exc:
            error = f"unusable Twilio recording callback: {exc!r}"
            return await self._dead_letter(Channel.VOICE, request, body, error, answer=goodbye)
        return twiml(goodbye)

    async def voice_transcription(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        lang, category = self._call_state(request)
        sid = form.get("RecordingSid", "")
        try:
            parked = await run_in_threadpool(voicemail_parking.claim, self.store, sid) if sid else None
            # Not parked: it was routed without its transcript (overdue) or parking was lost; the transcription
            # form carries the call's From/To/CallSid/RecordingUrl, enough for an envelope on its own.
            recording = parked["recording"] if parked else form
            await run_in_threadpool(accept_voicemail, self.settings, self.store, recording, form, lang, category)
        except StoreUnavailable as exc:
            return unavailable(exc)
        except UNUSABLE as exc:
            error = f"unusable Twilio transcription callback: {exc!r}"
            return await self._dead_letter(Channel.VOICE, request, body, error)
        return twiml(EMPTY_TWIML)

    async def call_status(self, request: Request, form: dict[str, str], body: bytes) -> Response:
        """A call ended. One that left no voicemail (hung up in the menu or before the beep) is stored as missed."""
        call_sid = form.get("CallSid", "")
        if form.get("CallStatus") != "completed" or form.get("Direction", "inbound") != "inbound" or not call_sid:
            return twiml(EMPTY_TWIML)
        try:
            await run_in_threadpool(self._take_finished_call, form, call_sid)
        except StoreUnavailable as exc:
            return unavailable(exc)
        except UNUSABLE as exc:
            return await self._dead_letter(Channel.VOICE, request, body, f"unusable Twilio call status: {exc!r}")
        return twiml(EMPTY_TWIML)

    def _take_finished_call(self, form: Mapping[str, str], call_sid: str) -> None:
        if self.store.find_duplicate(Channel.VOICE, call_sid) or voicemail_parking.was_parked(self.store, call_sid):
            return  # its voicemail is stored, or parked for its transcript
        lang, category = call_state.choice(self.store, call_sid)
        lang = lang or self.settings.replies.default_language
        accept_missed_call(self.settings, self.store, form, lang, self._known_category(category))

    # ---- helpers -----------------------------------------------------------------------------------------------

    def _call_state(self, request: Request) -> tuple[str, str | None]:
        lang = request.query_params.get("lang", "en")
        return lang, self._known_category(request.query_params.get("category") or None)

    def _known_category(self, category: str | None) -> str | None:
        known = self.settings.router.categories
        if category is not None and known and category not in known:
            log.warning("twilio call: menu category %r is no longer configured; routing by content", category)
            return None
        return category

    def _url_for(self, request: Request) -> ivr.UrlFor:
        base = public_base(request, self.settings.web)

        def url_for(path: str, **query: object) -> str:
            return base + path + ("?" + urlencode(query) if query else "")

        return url_for

    async def _dead_letter(
        self, channel: Channel, request: Request, body: bytes, error: str, *, answer: str = EMPTY_TWIML
    ) -> Response:
        log.warning("twilio webhook dead-lettered: %s", error)
        meta = dead_letter_meta(request.url.path, dict(request.query_params))
        try:
            await run_in_threadpool(self.store.dead_letter, channel, body, error, meta)
        except StoreUnavailable as exc:
            return unavailable(exc)
        return twiml(answer)


def empty(request: Request) -> str:
    return EMPTY_TWIML


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
