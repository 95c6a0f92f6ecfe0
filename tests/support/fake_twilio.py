"""A local fake of Twilio: its Messages API for the real client, and the signed webhooks Twilio posts to us.

Messages API (`POST /2010-04-01/Accounts/{AC…}/Messages.json`):
It records every request (form, Basic-auth user) and answers like Twilio: 201 with a message resource, or the error
body Twilio sends (`{"code": 21211, "message": …, "status": 400}`), which the client raises as TwilioRestException.
`fail_next(status, code)` scripts the next answers; numbers in `invalid_numbers` always get 21211.

Webhooks: `post_webhook` signs a form with `RequestValidator.compute_signature` over the URL Twilio would call (the
public one) and POSTs it to where the app really listens, as Twilio behind a proxy would.
"""

from __future__ import annotations

import base64
import email.utils
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"

_MESSAGES_PATH = re.compile(r"/2010-04-01/Accounts/(AC\w+)/Messages\.json")
_SENDER = re.compile(r"\+[1-9]\d{5,14}|\d{3,8}")  # E.164, or a short code


@dataclass
class SentMessage:
    account_sid: str
    auth_user: str
    form: dict[str, str]
    sid: str = ""
    received_at: float = field(default_factory=time.monotonic)  # for bench/bench_latency.py: when the send arrived


@dataclass
class FakeTwilio:
    invalid_numbers: set[str] = field(default_factory=set)
    messages: list[SentMessage] = field(default_factory=list)
    attempts: int = 0
    garbled: int = 0  # answer this many sends with a 200 that is no message resource (a provider gone strange)
    _failures: list[tuple[int, int, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, status: int, code: int, message: str = "scripted failure") -> None:
        with self._lock:
            self._failures.append((status, code, message))

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                match = _MESSAGES_PATH.fullmatch(urlparse(self.path).path)
                if match is None:
                    self._send(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
                    return
                status, body = fake._answer(match.group(1), _basic_user(self.headers.get("Authorization")), form)
                self._send(status, body)

            def _send(self, status: int, body: dict[str, Any] | None) -> None:
                data = json.dumps(body).encode() if body is not None else b"<html>upstream gone strange</html>"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _answer(self, account: str, user: str, form: dict[str, str]) -> tuple[int, dict[str, Any] | None]:
        with self._lock:
            self.attempts += 1
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            status, code, message = failure
            return status, {"code": code, "message": message, "status": status}
        to = form.get("To", "")
        if not to.removeprefix("whatsapp:").startswith("+") or to.removeprefix("whatsapp:") in self.invalid_numbers:
            return 400, {
                "code": 21211,
                "message": f"The 'To' number {to} is not a valid phone number.",
                "more_info": "https://www.twilio.com/docs/errors/21211",
                "status": 400,
            }
        sender = form.get("From", "").removeprefix("whatsapp:")
        if "MessagingServiceSid" not in form and not _SENDER.fullmatch(sender):
            return 400, {
                "code": 21212,
                "message": f"The 'From' number {form.get('From')} is not a valid phone number or shortcode.",
                "more_info": "https://www.twilio.com/docs/errors/21212",
                "status": 400,
            }
        if self.garbled > 0:
            with self._lock:
                self.garbled -= 1
            return 200, None
        sid = "SM" + uuid.uuid4().hex
        with self._lock:
            self.messages.append(SentMessage(account, user, form, sid))
        now = email.utils.format_datetime(datetime.now(UTC), usegmt=True)
        return 201, {
            "account_sid": account,
            "api_version": "2010-04-01",
            "body": form.get("Body"),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json"},
            "to": to,
            "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
        }


def _basic_user(header: str | None) -> str:
    if not header or not header.startswith("Basic "):
        return ""
    return base64.b64decode(header[6:]).decode().split(":", 1)[0]


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, form))


def post_webhook(
    app_url: str,
    path: str,
    form: dict[str, str],
    *,
    signed_url: str | None = None,
    token: str = AUTH_TOKEN,
    headers: dict[str, str] | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """POST `form` to `app_url + path`, signed for `signed_url` (default: the same URL), like Twilio does."""
    url = app_url + path
    all_headers = {"X-Twilio-Signature": signature if signature is not None else sign(signed_url or url, form, token)}
    all_headers |= headers or {}
    return httpx.post(url, content=urlencode(form), headers=all_headers | _FORM, timeout=10)


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def sms_form(
    body: str, *, sid: str | None = None, from_: str = "+14155550100", to: str = "+15017122661"
) -> dict[str, str]:
    """An inbound SMS as Twilio posts it (https://www.twilio.com/docs/messaging/guides/webhook-request)."""
    sid = sid or "SM" + uuid.uuid4().hex
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": from_,
        "ApiVersion": "2010-04-01",
        "FromCountry": "US",
    }


def whatsapp_form(
    body: str,
    *,
    sid: str | None = None,
    from_: str = "+8613800138000",
    to: str = "+14155238886",
    profile_name: str = "Li Lei",
) -> dict[str, str]:
    form = sms_form(body, sid=sid, from_="whatsapp:" + from_, to="whatsapp:" + to)
    return form | {"ProfileName": profile_name, "WaId": from_.removeprefix("+"), "MessageType": "text"}
